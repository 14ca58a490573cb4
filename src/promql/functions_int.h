/*
 * functions_int.h - what functions.c (the table) needs from functions_range.c.
 */
#ifndef VIGIL_PROMQL_FUNCTIONS_INT_H
#define VIGIL_PROMQL_FUNCTIONS_INT_H

#include "promql/promql_int.h"

/* An empty vector with room for n samples, in the scratch arena. */
vector_t fn_new_vector(evalctx_t *c, size_t n);
/* The label set absent()/absent_over_time() report for their argument. */
promql_labels_t fn_absent_labels(evalctx_t *c, const expr_t *arg);

#define FR(name) int fr_##name(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o);
FR(absent_over_time)
FR(avg_over_time)
FR(changes)
FR(count_over_time)
FR(delta)
FR(deriv)
FR(double_exponential_smoothing)
FR(first_over_time)
FR(histogram_fraction)
FR(histogram_quantile)
FR(histogram_quantiles)
FR(idelta)
FR(increase)
FR(irate)
FR(last_over_time)
FR(mad_over_time)
FR(max_over_time)
FR(min_over_time)
FR(predict_linear)
FR(present_over_time)
FR(quantile_over_time)
FR(rate)
FR(resets)
FR(stddev_over_time)
FR(stdvar_over_time)
FR(sum_over_time)
FR(ts_of_first_over_time)
FR(ts_of_last_over_time)
FR(ts_of_max_over_time)
FR(ts_of_min_over_time)
#undef FR

#endif /* VIGIL_PROMQL_FUNCTIONS_INT_H */
