// The temperature stage, the filters and the draw, on a row's Candidates.
// Semantics: include/logitkit/head.h. Parameters are validated by the caller.
#ifndef LOGITKIT_HEAD_FILTERS_H_
#define LOGITKIT_HEAD_FILTERS_H_

#include <cstddef>

#include "head/candidates.h"
#include "ops/row_ops.h"

namespace logitkit::head {

// Copies a borrowed row into scratch before a stage writes to it.
void MakeWritable(Candidates& c, RowScratch& s);

// exps = exp(vals - max) and their sums; recomputed unless already valid
// (and, for `weighted`, always). REQUIRES: c.max finite.
ops::ExpSums EnsureExps(Candidates& c, bool weighted);

// vals /= temperature. Returns false if a kept value overflowed to -inf.
// REQUIRES: temperature > 0 and c.max / temperature finite.
bool ApplyTemperature(Candidates& c, float temperature, RowScratch& s);

// Each filter marks removed tokens -inf (exps 0) and may make c sparse.
// REQUIRES: at least one finite value in c.
void FilterTopK(Candidates& c, size_t k, RowScratch& s);
void FilterTopP(Candidates& c, double p, RowScratch& s);
void FilterMinP(Candidates& c, double min_p, RowScratch& s);
void FilterTypicalP(Candidates& c, double p, RowScratch& s);
void FilterTopNSigma(Candidates& c, double n_sigma, RowScratch& s);

// The position in c drawn with uniform u in [0, 1): the first position, in id
// order, where the running sum of exp(vals - shift) exceeds u · Σ. Leaves
// c.shift and c.exp_sum describing the final distribution.
size_t Draw(Candidates& c, double u, RowScratch& s);

// Number of finite values.
size_t CountKept(const Candidates& c);

}  // namespace logitkit::head

#endif  // LOGITKIT_HEAD_FILTERS_H_
