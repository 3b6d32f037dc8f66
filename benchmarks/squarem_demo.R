# R's SQUAREM on its own demo problems (demo/poissonmix.R, demo/factoranalysis.R of the
# SQUAREM package), run by benchmarks/bench_squarem.py.
#
# Usage: Rscript squarem_demo.R OBJFN_INC TOL [STARTS]
# Prints one line per problem: name fpevals objfevals value.objfn par[1] par[2] ...
# With STARTS (a whitespace table, one Poisson-mixture start p, mu1, mu2 a row), it
# prints one such line per row instead, named poissmix_<row>.
suppressMessages(library(SQUAREM))
args <- commandArgs(trailingOnly = TRUE)
objfn.inc <- as.numeric(args[1])
tol <- as.numeric(args[2])

## Poisson mixture of the Hasselblad (1969) death notices, start as in the demo
poissmix.dat <- data.frame(death = 0:9, freq = c(162, 267, 271, 185, 111, 61, 27, 8, 3, 1))
y <- poissmix.dat$freq
RNGkind("Wichmann-Hill", "Box-Muller")  # what the demo's setRNG call sets
set.seed(123)
p0 <- c(runif(1), runif(2, 0, 6))

poissmix.em <- function(p, y) {
  pnew <- rep(NA, 3)
  i <- 0:(length(y) - 1)
  zi <- p[1] * exp(-p[2]) * p[2]^i /
    (p[1] * exp(-p[2]) * p[2]^i + (1 - p[1]) * exp(-p[3]) * p[3]^i)
  pnew[1] <- sum(y * zi) / sum(y)
  pnew[2] <- sum(y * i * zi) / sum(y * zi)
  pnew[3] <- sum(y * i * (1 - zi)) / sum(y * (1 - zi))
  pnew
}
poissmix.loglik <- function(p, y) {
  i <- 0:(length(y) - 1)
  loglik <- y * log(p[1] * exp(-p[2]) * p[2]^i / exp(lgamma(i + 1)) +
                      (1 - p[1]) * exp(-p[3]) * p[3]^i / exp(lgamma(i + 1)))
  -sum(loglik)
}

## Factor analysis of Joreskog's (1967) nine tests, start as in the demo
cyy <- diag(9)
cyy[upper.tri(cyy)] <- c(.554, .227, .296, .189, .219, .769,
                         .461, .479, .237, .212, .506, .530,
                         .243, .226, .520, .408, .425, .304,
                         .291, .514, .473, .280, .311, .718,
                         .681, .313, .348, .374, .241, .311,
                         .730, .661, .245, .290, .306, .672)
cyy[lower.tri(cyy)] <- t(cyy)[lower.tri(t(cyy))]
beta.trans <- matrix(c(0.5954912, 0.6449102, 0.7630006, 0.7163828, 0.6175647, 0.6464100,
                       0.6452737, 0.7868222, 0.7482302,
                       -0.4893347, -0.4408213, 0.5053083, 0.5258722, -0.4714808, -0.4628659,
                       -0.3260013, 0.3690580, 0.4326963,
                       -0.3848925, -0.3555598, -0.0535340, 0.0219100, 0, 0, 0, 0, 0,
                       0, 0, 0, 0, 0.1931459, 0.4606456, -0.3622682, 0.0630371, 0.0431256),
                     9, 4)
param.start <- c(as.numeric(t(beta.trans)), rep(10^(-8), 9))

## the demo's EM map, verbatim: it inverts Sigma = diag(tau2) + B'B, which at the
## start (tau2 = 1e-8) is nearly singular
factor.em <- function(param, cyy) {
  beta.mat <- matrix(param[1:36], 4, 9)
  tau2.mat <- diag(param[37:45])
  inv.quantity <- solve(tau2.mat + t(beta.mat) %*% beta.mat)
  small.delta <- inv.quantity %*% t(beta.mat)
  big.delta <- diag(4) - beta.mat %*% inv.quantity %*% t(beta.mat)
  factor.update(small.delta, big.delta, cyy)
}
## the same map with Sigma^-1 B' from a Cholesky solve: exact to rounding at the start
factor.em.chol <- function(param, cyy) {
  beta.mat <- matrix(param[1:36], 4, 9)
  R <- chol(diag(param[37:45]) + t(beta.mat) %*% beta.mat)
  small.delta <- backsolve(R, forwardsolve(t(R), t(beta.mat)))
  big.delta <- diag(4) - beta.mat %*% small.delta
  factor.update(small.delta, big.delta, cyy)
}
factor.update <- function(small.delta, big.delta, cyy) {
  cyy.inverse <- t(small.delta) %*% cyy %*% small.delta + big.delta
  cyy.mat <- t(small.delta) %*% cyy
  beta.new <- matrix(0, 4, 9)
  beta.p1 <- solve(cyy.inverse[1:3, 1:3]) %*% cyy.mat[1:3, 1:4]
  beta.p2 <- solve(cyy.inverse[c(1, 2, 4), c(1, 2, 4)]) %*% cyy.mat[c(1, 2, 4), 5:9]
  beta.new[1:3, 1:4] <- beta.p1
  beta.new[c(1, 2, 4), 5:9] <- beta.p2
  tau.p1 <- diag(cyy)[1:4] - diag(t(cyy.mat[1:3, 1:4]) %*%
                                    solve(cyy.inverse[1:3, 1:3]) %*% cyy.mat[1:3, 1:4])
  tau.p2 <- diag(cyy)[5:9] - diag(t(cyy.mat[c(1, 2, 4), 5:9]) %*%
                                    solve(cyy.inverse[c(1, 2, 4), c(1, 2, 4)]) %*%
                                    cyy.mat[c(1, 2, 4), 5:9])
  c(as.numeric(beta.new), tau.p1, tau.p2)
}
factor.loglik <- function(param, cyy) {
  beta.mat <- matrix(param[1:36], 4, 9)
  Sig <- diag(param[37:45]) + t(beta.mat) %*% beta.mat
  loglik <- -145 / 2 * log(det(Sig)) - 145 / 2 * sum(diag(solve(Sig, cyy)))
  -loglik
}

report <- function(name, fit) {
  cat(name, fit$fpevals, fit$objfevals, sprintf("%.17g", fit$value.objfn),
      sprintf("%.17g", fit$par), "\n")
}
ctrl <- list(tol = tol, objfn.inc = objfn.inc, maxiter = 100000)
if (length(args) >= 3) {
  starts <- as.matrix(read.table(args[3]))
  for (k in seq_len(nrow(starts))) {
    report(paste0("poissmix_", k), squarem(starts[k, ], y = y, fixptfn = poissmix.em,
                                           objfn = poissmix.loglik, control = ctrl))
  }
  quit(save = "no")
}
report("poissmix", squarem(p0, y = y, fixptfn = poissmix.em, objfn = poissmix.loglik,
                           control = ctrl))
report("factor_demo", squarem(param.start, cyy = cyy, fixptfn = factor.em,
                              objfn = factor.loglik, control = ctrl))
report("factor_chol", squarem(param.start, cyy = cyy, fixptfn = factor.em.chol,
                              objfn = factor.loglik, control = ctrl))
