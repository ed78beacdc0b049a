# Fit one course model with lme4/ordinal or brms and write its timing and diagnostics as a one-row CSV.
#
# Called by benchmarks/course_models.py (which prepares the data exactly as bayesglmm fits them):
#   Rscript fit_course_models.R ENGINE DATA.csv FACTORS.tsv FORMULA FAMILY RESULT.csv SEED
# ENGINE: lme4 (glmer; ordinal::clmm for FAMILY cumulative; Laplace) or brms (4 chains x 2000
# iterations, 1000 warm-up, cores = 2; compilation included in wall_s).
# FACTORS.tsv: one line per factor column: "factor|ordered <TAB> column <TAB> level1,level2,...".
# FAMILY: binomial (FORMULA has cbind(...) for lme4, y | trials(n) for brms), bernoulli, poisson, cumulative.
# Needs (Debian): apt-get install -y r-base-core r-cran-lme4 r-cran-brms r-cran-ordinal r-cran-bh
# and, for brms, the Boost link described in ../shared/STACK.md.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 7) stop("usage: fit_course_models.R ENGINE DATA.csv FACTORS.tsv FORMULA FAMILY RESULT.csv SEED")
engine <- args[1]; data_path <- args[2]; spec_path <- args[3]; formula_text <- args[4]
family_name <- args[5]; result_path <- args[6]; seed <- as.integer(args[7])

t_start <- Sys.time()
elapsed <- function() as.numeric(difftime(Sys.time(), t_start, units = "secs"))

data <- read.csv(data_path, check.names = FALSE, stringsAsFactors = FALSE)
for (line in readLines(spec_path)) {
  if (!nzchar(line)) next
  parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
  levels <- strsplit(parts[3], ",", fixed = TRUE)[[1]]
  data[[parts[2]]] <- factor(as.character(data[[parts[2]]]), levels = levels, ordered = parts[1] == "ordered")
  if (anyNA(data[[parts[2]]])) stop("column ", parts[2], ": values outside the levels ", parts[3])
}
formula <- as.formula(formula_text)
result <- list(engine = engine, rows = nrow(data), wall_s = NA, sample_s = NA,
               max_rhat = NA, min_ess_bulk = NA, worst = "", divergences = NA, warning = "")
warnings_seen <- character()
keep_warning <- function(w) {
  warnings_seen <<- c(warnings_seen, conditionMessage(w))
  invokeRestart("muffleWarning")
}

if (engine == "lme4") {
  suppressPackageStartupMessages({library(lme4); library(ordinal)})
  t0 <- Sys.time()
  fit <- withCallingHandlers(
    if (family_name == "cumulative") {
      ordinal::clmm(formula, data = data, link = "logit")
    } else if (family_name == "poisson") {
      glmer(formula, data = data, family = poisson)
    } else {
      glmer(formula, data = data, family = binomial)
    },
    warning = keep_warning)
  result$wall_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  if (inherits(fit, "merMod")) {
    msgs <- fit@optinfo$conv$lme4$messages
    warnings_seen <- c(warnings_seen, msgs)
  }
  cat(sprintf("R: %s fitted in %.2f s\n", engine, result$wall_s))
} else if (engine == "brms") {
  suppressPackageStartupMessages(library(brms))
  fam <- switch(family_name, binomial = binomial(), bernoulli = bernoulli(), poisson = poisson(),
                cumulative = cumulative("logit"), stop("unknown family ", family_name))
  fit <- withCallingHandlers(
    brm(formula, data = data, family = fam, chains = 4, iter = 2000, warmup = 1000, cores = 2, seed = seed,
        refresh = 0, silent = 2),
    warning = keep_warning)
  result$wall_s <- elapsed()  # R start-up not included; library(brms), compilation and sampling are
  times <- rstan::get_elapsed_time(fit$fit)
  result$sample_s <- max(rowSums(times))  # longest chain (warm-up + sampling)
  draws <- as.array(fit$fit)  # iterations x chains x variables, warm-up excluded
  variables <- setdiff(dimnames(draws)[[3]], c("lp__", "lprior"))
  rhat <- sapply(variables, function(v) posterior::rhat(draws[, , v]))
  ess <- sapply(variables, function(v) posterior::ess_bulk(draws[, , v]))
  ok <- is.finite(rhat)  # constant elements have none
  result$max_rhat <- max(rhat[ok])
  result$min_ess_bulk <- min(ess[ok])
  result$worst <- variables[ok][which.min(ess[ok])]
  sampler <- rstan::get_sampler_params(fit$fit, inc_warmup = FALSE)
  result$divergences <- sum(sapply(sampler, function(x) sum(x[, "divergent__"])))
  cat(sprintf("R: brms %.1f s, max Rhat %.3f, min bulk ESS %.0f (%s), %d divergences\n", result$wall_s,
              result$max_rhat, result$min_ess_bulk, result$worst, as.integer(result$divergences)))
} else {
  stop("unknown engine ", engine)
}
result$warning <- gsub("[\r\n,]+", " ", paste(unique(warnings_seen), collapse = "; "))
tmp <- paste0(result_path, ".tmp")
write.csv(as.data.frame(result, stringsAsFactors = FALSE), tmp, row.names = FALSE)
file.rename(tmp, result_path)
