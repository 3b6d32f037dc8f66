# Times Mclust() on each CSV named on the command line (all 14 models, G = 1..9,
# mclust's defaults: hc start on at most 2000 rows, emControl() tolerances) and
# prints one line per data set: name, median seconds, best model, best G, best BIC.
# Usage: Rscript select_mclust.R REPEATS file1.csv [file2.csv ...]
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
repeats <- as.integer(args[1])
set.seed(0)
for (path in args[-1]) {
  x <- as.matrix(read.csv(path))
  m <- Mclust(x[seq_len(min(nrow(x), 300)), ], G = 1:9, verbose = FALSE)  # warm-up
  times <- numeric(repeats)
  for (i in seq_len(repeats)) {
    times[i] <- system.time(m <- Mclust(x, G = 1:9, verbose = FALSE))[["elapsed"]]
  }
  cat(sprintf("%s,%.6f,%s,%d,%.6f,%s\n", basename(path), median(times), m$modelName, m$G,
              m$bic, paste(sprintf("%.4f", times), collapse = ";")))
}
