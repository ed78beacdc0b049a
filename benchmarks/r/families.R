# brms's (and glmmTMB's) fits of the real data sets of benchmarks/families.py, one model per call.
#
# Called by benchmarks/families.py (never by hand, but it can be):
#   Rscript families.R export NAME OUT.csv
#       writes one public data set (from R packages installed from Debian) as CSV, recoded for both sides:
#       sleepstudy (lme4), Machines (nlme), bacteria (MASS), cbpp (lme4), grouseticks (lme4), wine (ordinal),
#       Orthodont (nlme), USAirlines (AER), Salamanders (glmmTMB), kidney (survival), VerbAgg (lme4; a subset).
#   Rscript families.R fit DATA.csv OUT.csv SEED CORES BRMS_FORMULA BRMS_FAMILY [TMB_FORMULA TMB_FAMILY TMB_ZI
#                          TMB_DISP]
#       fits brms (default priors, 4 chains x 1000 draws after 1000 warm-up) and, when TMB_FORMULA is not
#       "-", glmmTMB (ML); families are R expressions (e.g. 'negbinomial()', 'nbinom2()').
#       BRMS_FORMULA may be a brmsformula with auxiliary formulas, 'bf(y ~ x + (1|g), sigma ~ x)'.
#       TMB_ZI / TMB_DISP ('-': none / the default ~1) are glmmTMB's ziformula and dispformula; their
#       coefficients are written as zi_<term> and disp_<term>, on glmmTMB's own scales (logit zi; log of
#       the dispersion), with meta disp_is_log_variance = 1 when this glmmTMB's gaussian dispersion
#       model is log(sigma^2) (glmmTMB <= 1.1.x's ?glmmTMB example: c(log(5^2), ...)), found by
#       refitting with dispformula = ~1 and comparing with log(sigma(m)).
#       BRMS_FAMILY 'beta_binomial2' is the custom beta-binomial of brms's "custom families" vignette
#       (brms 2.18 has no beta_binomial; it came in 2.19).
# OUT.csv: one row per quantity: source (brms / glmmTMB / meta), term, mean, sd.
# Needs (Debian): r-base-core r-cran-brms r-cran-lme4 r-cran-nlme r-cran-mass r-cran-glmmtmb r-cran-ordinal
# r-cran-aer r-cran-survival.

args <- commandArgs(trailingOnly = TRUE)
mode <- args[1]

if (mode == "export") {
  name <- args[2]; out <- args[3]
  data <- switch(name,
    sleepstudy = lme4::sleepstudy,
    Machines = { d <- as.data.frame(nlme::Machines); d$Worker <- paste0("w", as.character(d$Worker))
                 d$Machine <- as.character(d$Machine); d },
    bacteria = { d <- MASS::bacteria; d$y <- as.integer(d$y == "y"); d$trt <- as.character(d$trt)
                 d$ID <- as.character(d$ID); d[, c("y", "trt", "week", "ID")] },
    cbpp = { d <- lme4::cbpp; d$period <- paste0("p", as.character(d$period)); d$herd <- paste0("h", d$herd); d },
    grouseticks = { d <- lme4::grouseticks; d$YEAR <- paste0("y", as.character(d$YEAR))
                    d$LOCATION <- paste0("l", as.character(d$LOCATION))
                    d[, c("TICKS", "YEAR", "cHEIGHT", "LOCATION")] },
    wine = ordinal::wine,
    Orthodont = { d <- as.data.frame(nlme::Orthodont); d$Subject <- as.character(d$Subject)
                  d$Sex <- as.character(d$Sex); d$age <- d$age - 11; d },
    USAirlines = { e <- new.env(); data("USAirlines", package = "AER", envir = e); d <- e$USAirlines
                   d$firm <- paste0("f", as.character(d$firm)); d$year <- as.numeric(as.character(d$year)) - 1977
                   d$loutput <- log(d$output); d[, c("load", "year", "loutput", "firm")] },
    Salamanders = { d <- glmmTMB::Salamanders; d$mined <- as.character(d$mined); d$site <- as.character(d$site)
                    d[, c("count", "mined", "spp", "site")] },
    kidney = { d <- survival::kidney; d$censored <- 1L - d$status  # survival: 1 = event; ours, brms: 1 = censored
               d$sex <- ifelse(d$sex == 1, "male", "female"); d$id <- paste0("p", d$id)
               d[, c("time", "censored", "sex", "age", "id")] },
    VerbAgg = { d <- lme4::VerbAgg  # the 8 "curse" items of the first 100 respondents: 800 rows
                d <- d[d$btype == "curse" & as.integer(d$id) <= 100, ]
                d$resp <- as.character(d$resp); d$id <- paste0("s", as.character(d$id))
                d$Gender <- as.character(d$Gender); d$situ <- as.character(d$situ)
                d[, c("resp", "Anger", "Gender", "situ", "id")] },
    stop("unknown data set ", name))
  write.csv(data, out, row.names = FALSE)
  quit(save = "no")
}
if (mode != "fit") stop("usage: families.R export NAME OUT.csv | fit DATA.csv OUT.csv SEED CORES BRMS_FORMULA BRMS_FAMILY ...")
data_path <- args[2]; out <- args[3]; seed <- as.integer(args[4]); cores <- as.integer(args[5])
brms_formula <- args[6]; brms_family <- args[7]
tmb_formula <- if (length(args) >= 8) args[8] else "-"
tmb_family <- if (length(args) >= 9) args[9] else "-"
tmb_zi <- if (length(args) >= 10) args[10] else "-"
tmb_disp <- if (length(args) >= 11) args[11] else "-"

suppressPackageStartupMessages({library(brms); library(posterior)})
data <- read.csv(data_path, stringsAsFactors = FALSE)
if ("rating" %in% names(data)) data$rating <- factor(data$rating, levels = sort(unique(data$rating)), ordered = TRUE)
rows <- list()
add <- function(source, term, mean, sd) {
  rows[[length(rows) + 1]] <<- data.frame(source = source, term = term, mean = as.numeric(mean), sd = as.numeric(sd))
}

stanvars <- NULL
if (brms_family == "beta_binomial2") {
  # brms vignette "Define Custom Response Distributions with brms" (Buerkner), verbatim parameterisation:
  # mu the mean probability (logit link), phi the precision (log link), as bayesglmm's mu and kappa.
  family <- custom_family("beta_binomial2", dpars = c("mu", "phi"), links = c("logit", "log"),
                          lb = c(0, 0), ub = c(1, NA), type = "int", vars = "vint1[n]")
  stanvars <- stanvar(scode = "
    real beta_binomial2_lpmf(int y, real mu, real phi, int T) {
      return beta_binomial_lpmf(y | T, mu * phi, (1 - mu) * phi);
    }", block = "functions")
} else {
  family <- eval(parse(text = brms_family))
}
t0 <- Sys.time()
brms_f <- if (grepl("^bf\\(", brms_formula)) eval(parse(text = brms_formula)) else as.formula(brms_formula)
fit <- brm(brms_f, data = data, family = family, stanvars = stanvars, chains = 4, iter = 2000,
           warmup = 1000, cores = cores, seed = seed, refresh = 0, silent = 2)
wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
el <- rstan::get_elapsed_time(fit$fit)
arr <- as_draws_array(fit)
vars <- grep("^(b_|sd_|cor_|sigma$|shape$|phi$|nu$|zi$|hu$|Intercept)", variables(arr), value = TRUE)
sm <- summarise_draws(subset_draws(arr, variable = vars))
for (i in seq_len(nrow(sm))) {
  add("brms", sm$variable[i], sm$mean[i], sm$sd[i])
}
np <- nuts_params(fit)
add("meta", "brms_wall_s", wall, NA)
add("meta", "brms_sampling_s", sum(el), NA)  # summed over chains (2 run at a time on 2 cores)
add("meta", "brms_max_rhat", max(sm$rhat, na.rm = TRUE), NA)
add("meta", "brms_min_ess_bulk", min(sm$ess_bulk, na.rm = TRUE), NA)
add("meta", "brms_divergences", sum(np$Value[np$Parameter == "divergent__"]), NA)
cat(sprintf("R: brms %.0f s (sampling %.0f s summed over chains), max Rhat %.3f, min bulk ESS %.0f\n", wall,
            sum(el), max(sm$rhat, na.rm = TRUE), min(sm$ess_bulk, na.rm = TRUE)))

if (tmb_formula != "-") {
  res <- tryCatch({
    suppressPackageStartupMessages(library(glmmTMB))
    t1 <- Sys.time()
    zi <- if (tmb_zi == "-") ~0 else as.formula(tmb_zi)
    disp <- if (tmb_disp == "-") ~1 else as.formula(tmb_disp)
    m <- glmmTMB(as.formula(tmb_formula), data = data, family = eval(parse(text = tmb_family)), ziformula = zi,
                 dispformula = disp)
    tw <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
    cf <- summary(m)$coefficients$cond
    for (i in seq_len(nrow(cf))) add("glmmTMB", rownames(cf)[i], cf[i, 1], cf[i, 2])
    if (tmb_zi != "-") {
      cz <- summary(m)$coefficients$zi
      for (i in seq_len(nrow(cz))) add("glmmTMB", paste0("zi_", rownames(cz)[i]), cz[i, 1], cz[i, 2])
    }
    if (tmb_disp != "-") {
      cd <- summary(m)$coefficients$disp
      for (i in seq_len(nrow(cd))) add("glmmTMB", paste0("disp_", rownames(cd)[i]), cd[i, 1], cd[i, 2])
      m1 <- update(m, dispformula = ~1)  # which scale: log(sigma) or log(sigma^2)?
      d1 <- unname(fixef(m1)$disp[1])
      add("meta", "disp_is_log_variance", as.numeric(abs(d1 - 2 * log(sigma(m1))) < abs(d1 - log(sigma(m1)))), NA)
    }
    add("meta", "glmmTMB_wall_s", tw, NA)
    add("meta", "glmmTMB_converged", as.numeric(isTRUE(m$sdr$pdHess)), NA)
    TRUE
  }, error = function(e) { cat("glmmTMB:", conditionMessage(e), "\n"); FALSE })
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
