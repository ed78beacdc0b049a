# brms's (and emmeans's, performance's) answers to the questions benchmarks/answers_agreement.py asks bayesglmm.
#
# Called by benchmarks/answers_agreement.py and (export only) benchmarks/convergence_rate.py (never by hand,
# but it can be):
#   Rscript answers.R export NAME OUT.csv                 writes lme4::sleepstudy or ordinal::wine as CSV
#                                                         (or lme4::cbpp, lme4::grouseticks,
#                                                         glmmTMB::Salamanders and the other public data
#                                                         sets of benchmarks/convergence_rate.py)
#   Rscript answers.R fit MODEL DATA.csv OUT.csv SEED [CORES] [PRIORS] [DRAWS]
# MODEL: multicentre (binomial, y | trials(n) ~ treat + (1|centre)), sleepstudy (gaussian,
# Reaction ~ Days + (1|Subject)) or wine (cumulative logit, rating ~ temp + contact + (1|judge)).
# brms with its default priors (or, with PRIORS = matched, bayesglmm's default priors written by the
# Python side into DATA.csv's sibling PRIORS file, see below), 4 chains x 1000 draws after 1000 warm-up (bayesglmm's defaults).
# OUT.csv: one row per quantity: key, mean, sd, median, source (what in R produced it).
# Needs (Debian): apt-get install -y r-base-core r-cran-lme4 r-cran-brms r-cran-emmeans r-cran-performance
# r-cran-ordinal r-cran-bh, and the Boost link of ../shared/STACK.md.

args <- commandArgs(trailingOnly = TRUE)
mode <- args[1]

if (mode == "export") {
  name <- args[2]; out <- args[3]
  data <- switch(name,
                 sleepstudy = { suppressPackageStartupMessages(library(lme4)); lme4::sleepstudy },
                 wine = { suppressPackageStartupMessages(library(ordinal)); ordinal::wine },
                 # also for benchmarks/convergence_rate.py's public data sets
                 cbpp = { suppressPackageStartupMessages(library(lme4)); lme4::cbpp },
                 grouseticks = { suppressPackageStartupMessages(library(lme4)); lme4::grouseticks },
                 Salamanders = { suppressPackageStartupMessages(library(glmmTMB)); glmmTMB::Salamanders },
                 Penicillin = lme4::Penicillin,
                 Pastes = lme4::Pastes,
                 Dyestuff2 = lme4::Dyestuff2,
                 Arabidopsis = lme4::Arabidopsis,
                 VerbAgg = transform(lme4::VerbAgg, yes = as.integer(r2 == "Y")),
                 Owls = { suppressPackageStartupMessages(library(glmmTMB)); glmmTMB::Owls },
                 bacteria = transform(MASS::bacteria, yes = as.integer(y == "y")),
                 epilepsy = { data(epilepsy, package = "brms", envir = environment()); epilepsy },
                 stop("unknown data set ", name))
  write.csv(data, out, row.names = FALSE)
  quit(save = "no")
}
if (mode != "fit") stop("usage: answers.R export NAME OUT.csv | fit MODEL DATA.csv OUT.csv SEED [CORES] [PRIORS]")
model <- args[2]; data_path <- args[3]; out <- args[4]; seed <- as.integer(args[5])
cores <- if (length(args) >= 6) as.integer(args[6]) else 1L
prior_mode <- if (length(args) >= 7) args[7] else "default"
draws <- if (length(args) >= 8) as.integer(args[8]) else 1000L  # per chain, after 1000 warm-up

suppressPackageStartupMessages({library(brms); library(posterior)})
data <- read.csv(data_path, stringsAsFactors = FALSE)
rows <- list()
add <- function(key, draws, source) {
  draws <- as.numeric(draws)
  rows[[length(rows) + 1]] <<- data.frame(key = key, mean = mean(draws), sd = sd(draws),
                                          median = median(draws), source = source)
}
add_point <- function(key, value, source) {
  rows[[length(rows) + 1]] <<- data.frame(key = key, mean = as.numeric(value), sd = NA, median = NA,
                                          source = source)
}

if (model == "multicentre") {
  data$treat <- factor(data$treat, levels = c("control", "drug"))
  data$centre <- factor(data$centre)
  formula <- bf(y | trials(n) ~ treat + (1 | centre)); family <- binomial()
  pvar <- "treat"; coef <- "treatdrug"; group <- "centre"; resid <- "logit"; fixed <- ~ treat
} else if (model == "sleepstudy") {
  data$Subject <- factor(data$Subject)
  formula <- bf(Reaction ~ Days + (1 | Subject)); family <- gaussian()
  pvar <- "Days"; coef <- "Days"; group <- "Subject"; resid <- "sigma"; fixed <- ~ Days
} else if (model == "wine") {
  data$rating <- factor(data$rating, levels = 1:5, ordered = TRUE)
  data$temp <- factor(data$temp, levels = c("cold", "warm"))
  data$contact <- factor(data$contact, levels = c("no", "yes"))
  data$judge <- factor(data$judge)
  formula <- bf(rating ~ temp + contact + (1 | judge)); family <- cumulative("logit")
  pvar <- "temp"; coef <- "tempwarm"; group <- "judge"; resid <- "logit"; fixed <- ~ temp + contact
} else stop("unknown model ", model)

prior <- NULL
if (prior_mode != "default") {
  # bayesglmm's default priors, as brms statements, one per line (written by answers_agreement.py)
  lines <- readLines(prior_mode)
  prior <- do.call(c, lapply(lines, function(l) eval(parse(text = l))))
  # bayesglmm samples an ordinal model's cut-points at the means of the fixed-effect columns, where its
  # cut-point prior applies; brms's Intercept[k] (center = TRUE, its default) are the same parameters.
}

t0 <- Sys.time()
fit <- brm(formula, data = data, family = family, prior = prior, chains = 4, iter = 1000 + draws, warmup = 1000,
           cores = cores, seed = seed, refresh = 0, silent = 2,
           file = sub("\\.csv$", "", out))  # kept beside OUT (a temporary folder) for reruns
wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
dr <- as_draws_df(fit)
rh <- summarise_draws(subset_draws(as_draws_array(fit), variable = c("^b_", "^sd_", "^sigma"), regex = TRUE))
cat(sprintf("R: brms %s (%s priors) %.0f s, max Rhat %.3f, min bulk ESS %.0f\n", model, prior_mode, wall,
            max(rh$rhat), min(rh$ess_bulk)))
add_point("meta_brms_wall_s", wall, "brm() compile + sample")
add_point("meta_brms_max_rhat", max(rh$rhat), "posterior::rhat over b_, sd_, sigma")
add_point("meta_brms_min_ess_bulk", min(rh$ess_bulk), "posterior::ess_bulk over b_, sd_, sigma")

# (a) comparison on the response scale, counterfactual, group effects at zero, averaged over rows
nd0 <- data; nd1 <- data
if (model == "sleepstudy") {
  nd1$Days <- nd1$Days + 1
} else {
  lv <- levels(data[[pvar]])
  nd0[[pvar]] <- factor(lv[1], levels = lv); nd1[[pvar]] <- factor(lv[2], levels = lv)
}
if (model == "multicentre") { nd0$n <- 1L; nd1$n <- 1L }  # the probability, not the count
e0 <- posterior_epred(fit, newdata = nd0, re_formula = NA)
e1 <- posterior_epred(fit, newdata = nd1, re_formula = NA)
if (model == "wine") {
  # draws x rows x categories
  for (k in 1:5) {
    add(sprintf("a_comparison[%d]", k), rowMeans(e1[, , k]) - rowMeans(e0[, , k]), "posterior_epred by hand")
  }
  e <- posterior_epred(fit, re_formula = NA)
  for (k in 1:5) add(sprintf("a_predictions[%d]", k), rowMeans(e[, , k]), "posterior_epred by hand")
} else {
  add("a_comparison", rowMeans(e1) - rowMeans(e0), "posterior_epred by hand")
}
if (model == "multicentre") {
  em <- tryCatch({
    suppressPackageStartupMessages(library(emmeans))
    g <- emmeans(fit, as.formula(paste("~", pvar)), regrid = "response")
    con <- contrast(g, "revpairwise")
    as.numeric(as.matrix(coda::as.mcmc(con)))
  }, error = function(e) { cat("emmeans:", conditionMessage(e), "\n"); NULL })
  if (!is.null(em)) add("a_comparison_emmeans", em, "emmeans(regrid = response) + contrast(revpairwise)")
}

# (b) the coefficient on the link scale, and (e) its posterior probability of being above 0
h <- hypothesis(fit, sprintf("%s = 0", coef))$hypothesis
rows[[length(rows) + 1]] <- data.frame(key = "b_link", mean = h$Estimate, sd = h$Est.Error, median = NA,
                                       source = sprintf("hypothesis(fit, \"%s = 0\")", coef))
hp <- hypothesis(fit, sprintf("%s > 0", coef))$hypothesis
add_point("e_post_prob", hp$Post.Prob, sprintf("hypothesis(fit, \"%s > 0\")$Post.Prob", coef))
mid <- c(multicentre = NA, sleepstudy = 10, wine = 2.5)[[model]]  # a threshold near the posterior's centre
if (!is.na(mid)) {
  hm <- hypothesis(fit, sprintf("%s > %s", coef, mid))$hypothesis
  add_point("e_post_prob_mid", hm$Post.Prob, sprintf("hypothesis(fit, \"%s > %s\")$Post.Prob", coef, mid))
}

# (c) Bayesian R2
if (model != "wine") {
  add("c_bayes_R2", bayes_R2(fit, summary = FALSE), "brms::bayes_R2")
}

# (d) Nakagawa & Schielzeth per draw, by hand on the brms draws (bayesglmm's definitions), and performance's
X <- model.matrix(fixed, data)
X <- X[, colnames(X) != "(Intercept)", drop = FALSE]
B <- as.matrix(as.data.frame(dr)[, paste0("b_", colnames(X)), drop = FALSE])
eta <- B %*% t(X)                                           # draws x rows
n <- ncol(eta)
var_f <- apply(eta, 1, var) * (n - 1) / n
var_g <- dr[[sprintf("sd_%s__Intercept", group)]]^2
var_d <- if (resid == "sigma") dr$sigma^2 else pi^2 / 3
add("d_marginal", var_f / (var_f + var_g + var_d), "by hand on brms draws (Nakagawa)")
add("d_conditional", (var_f + var_g) / (var_f + var_g + var_d), "by hand on brms draws (Nakagawa)")
nk <- tryCatch({
  suppressPackageStartupMessages(library(performance))
  suppressWarnings(performance::r2_nakagawa(fit))
}, error = function(e) { cat("r2_nakagawa:", conditionMessage(e), "\n"); NULL })
if (!is.null(nk) && !is.list(nk)) cat("r2_nakagawa returned", format(nk), "\n")
if (!is.null(nk) && is.list(nk)) {
  add_point("d_marginal_performance", nk$R2_marginal, "performance::r2_nakagawa (point)")
  add_point("d_conditional_performance", nk$R2_conditional, "performance::r2_nakagawa (point)")
}
if (model != "wine") {
  rb <- tryCatch(suppressWarnings(performance::r2_bayes(fit)),
                 error = function(e) { cat("r2_bayes:", conditionMessage(e), "\n"); NULL })
  if (!is.null(rb)) {
    add_point("c_bayes_R2_performance", rb$R2_Bayes, "performance::r2_bayes conditional (median)")
  }
}
res <- do.call(rbind, rows)
write.csv(res, out, row.names = FALSE)
print(res)
