// Arg-max counts over channels-last logits.
#include "runtime/train/metrics.hpp"

#include <stdexcept>

namespace tensortier::runtime::train {

void ClassCounts::add(const ClassCounts& o) {
  if (o.classes() != classes()) throw std::invalid_argument("class counts: class numbers differ");
  for (int c = 0; c < classes(); ++c) {
    tp[c] += o.tp[c];
    fp[c] += o.fp[c];
    fn[c] += o.fn[c];
  }
}

double ClassCounts::dice(int c) const {
  const double den = 2.0 * static_cast<double>(tp[c]) + static_cast<double>(fp[c]) +
                     static_cast<double>(fn[c]);
  return den == 0 ? 1.0 : 2.0 * static_cast<double>(tp[c]) / den;
}

std::vector<double> ClassCounts::dice() const {
  std::vector<double> d(static_cast<std::size_t>(classes()));
  for (int c = 0; c < classes(); ++c) d[static_cast<std::size_t>(c)] = dice(c);
  return d;
}

ClassCounts count_predictions(Context& ctx, const Tensor& logits, const Tensor& labels, int n) {
  const Dims d = logits.dims();
  if (d.size() != 5 || labels.data_type() != DataType::u8 || labels.elems() != d[0] * d[2] * d[3] * d[4])
    throw std::invalid_argument("count_predictions: logits " + describe(logits.desc()) +
                                " and labels " + describe(labels.desc()) + " do not match");
  const Tensor z = logits.to(ctx, Tensor::channels_last(d));
  const int classes = static_cast<int>(d[1]);
  const std::int64_t per_sample = d[2] * d[3] * d[4];
  const std::int64_t first = n < 0 ? 0 : n * per_sample;
  const std::int64_t last = n < 0 ? d[0] * per_sample : first + per_sample;
  const float* p = z.f32();
  const std::uint8_t* y = labels.data_as<std::uint8_t>();
  // Confusion matrix, then tp/fp/fn: one pass, no per-class branches.
  std::vector<std::uint64_t> confusion(static_cast<std::size_t>(classes * classes), 0);
  for (std::int64_t v = first; v < last; ++v) {
    const float* pv = p + v * classes;
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (pv[c] > pv[best]) best = c;
    const int truth = y[v];
    if (truth >= classes) throw std::invalid_argument("count_predictions: label out of range");
    confusion[static_cast<std::size_t>(truth * classes + best)] += 1;
  }
  ClassCounts counts(classes);
  for (int t = 0; t < classes; ++t)
    for (int q = 0; q < classes; ++q) {
      const std::uint64_t k = confusion[static_cast<std::size_t>(t * classes + q)];
      if (t == q) {
        counts.tp[t] += k;
      } else {
        counts.fn[t] += k;
        counts.fp[q] += k;
      }
    }
  return counts;
}

double mean_dice(const std::vector<double>& dice, int first) {
  if (static_cast<int>(dice.size()) <= first) return 0;
  double s = 0;
  for (std::size_t c = static_cast<std::size_t>(first); c < dice.size(); ++c) s += dice[c];
  return s / static_cast<double>(dice.size() - static_cast<std::size_t>(first));
}

}  // namespace tensortier::runtime::train
