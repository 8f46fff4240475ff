// The forward / backward-data / backward-weights machinery shared by Conv3d
// and ConvTranspose3d (oneDNN's convolution and deconvolution primitives take
// the same descriptor arguments). Not public.
//
// Layouts: activations in the context's activation layout (ndhwc by default);
// weights are kept plain (OIDHW) by the caller and reordered into whatever the
// forward / backward-data primitive prefers (format_tag::any) on each call
// (they are small); diff_weights come back plain.
#pragma once

#include <optional>
#include <string>

#include "op_support.hpp"
#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime::detail {

struct ConvGeometry {
  const char* op;                // "conv3d" / "conv_transpose3d", for keys and messages
  dnnl::algorithm algorithm;     // convolution_direct / deconvolution_direct
  Dims src, weights, dst;        // N,IC,D,H,W  OC,IC,k,k,k  N,OC,D',H',W'
  bool bias;
  Dims strides, padding;         // symmetric padding
};

// Whether the bias is added after the primitive, in place, with a binary add,
// instead of being passed to it: given a bias, oneDNN 2.x's deconvolution
// computes into an f32 scratchpad the size of dst and adds the bias while
// copying out, because the backward-data convolution underneath takes no
// bias. At 64^3 x 16 channels x batch 4 that is 64 MiB of DRAM every op's
// scratchpad must leave room for; adding the bias in place after needs none.
inline bool bias_after(const ConvGeometry& g) {
  return g.bias && g.algorithm == dnnl::algorithm::deconvolution_direct;
}

struct ConvGrads {
  Tensor diff_src, diff_weights, diff_bias;
};

template <typename Fwd, typename BwdData, typename BwdWeights>
class ConvRunner {
 public:
  struct Plan {
    typename Fwd::primitive_desc fwd_pd;
    Fwd fwd;
    std::optional<typename BwdData::primitive_desc> bwd_data_pd;
    BwdData bwd_data;
    std::optional<typename BwdWeights::primitive_desc> bwd_weights_pd;
    BwdWeights bwd_weights;
    std::optional<dnnl::binary::primitive_desc> bias_pd;  // bias_after(): dst += bias
    dnnl::binary bias_add;
  };

  static std::string key(Context& ctx, const ConvGeometry& g, bool training) {
    return std::string(g.op) + (training ? " train" : " infer") + " src " +
           desc_key(ctx.activation_desc(g.src)) + " w " + dims_text(g.weights) +
           (g.bias ? " bias" : "") + " s " + dims_text(g.strides) + " p " + dims_text(g.padding);
  }

  // The primitive descriptors every call builds (and describe() reports).
  static typename Fwd::primitive_desc fwd_pd(Context& ctx, const ConvGeometry& g, bool training) {
    const MemoryDesc src_md = ctx.activation_desc(g.src);
    const MemoryDesc dst_md = ctx.activation_desc(g.dst);
    const MemoryDesc w_md(g.weights, DataType::f32, Tag::any);
    const MemoryDesc b_md = g.bias && !bias_after(g) ? bias_desc(g) : MemoryDesc();
    typename Fwd::desc d(training ? dnnl::prop_kind::forward_training
                                  : dnnl::prop_kind::forward_inference,
                         g.algorithm, src_md, w_md, b_md, dst_md, g.strides, g.padding,
                         g.padding);
    return typename Fwd::primitive_desc(d, user_scratchpad_attr(), ctx.engine());
  }
  static MemoryDesc bias_desc(const ConvGeometry& g) {
    return MemoryDesc({g.weights[0]}, DataType::f32, Tag::x);
  }
  // dst (the activation layout) += bias broadcast over channels, in place.
  static dnnl::binary::primitive_desc bias_add_pd(Context& ctx, const ConvGeometry& g) {
    const MemoryDesc dst_md = ctx.activation_desc(g.dst);
    const MemoryDesc b_md({1, g.weights[0], 1, 1, 1}, DataType::f32, Tag::abcde);
    dnnl::binary::desc d(dnnl::algorithm::binary_add, dst_md, b_md, dst_md);
    return dnnl::binary::primitive_desc(d, user_scratchpad_attr(), ctx.engine());
  }
  static typename BwdData::primitive_desc bwd_data_pd(Context& ctx, const ConvGeometry& g,
                                                      const typename Fwd::primitive_desc& hint) {
    typename BwdData::desc d(g.algorithm, ctx.activation_desc(g.src),
                             MemoryDesc(g.weights, DataType::f32, Tag::any),
                             ctx.activation_desc(g.dst), g.strides, g.padding, g.padding);
    return typename BwdData::primitive_desc(d, user_scratchpad_attr(), ctx.engine(), hint);
  }
  static typename BwdWeights::primitive_desc bwd_weights_pd(
      Context& ctx, const ConvGeometry& g, const typename Fwd::primitive_desc& hint) {
    const MemoryDesc b_md = g.bias ? MemoryDesc({g.weights[0]}, DataType::f32, Tag::x)
                                   : MemoryDesc();
    typename BwdWeights::desc d(g.algorithm, ctx.activation_desc(g.src),
                                MemoryDesc(g.weights, DataType::f32, Tag::any), b_md,
                                ctx.activation_desc(g.dst), g.strides, g.padding, g.padding);
    return typename BwdWeights::primitive_desc(d, user_scratchpad_attr(), ctx.engine(), hint);
  }

  // What a call of `pass` allocates besides its outputs (describe.hpp).
  static PrimitiveMemory describe(Context& ctx, const ConvGeometry& g, PrimitivePass pass) {
    PrimitiveMemory m;
    if (pass == PrimitivePass::forward_training || pass == PrimitivePass::forward_inference) {
      const auto pd = fwd_pd(ctx, g, pass == PrimitivePass::forward_training);
      m.src = pd.src_desc();
      m.weights = pd.weights_desc();
      m.bias = bias_after(g) ? bias_desc(g) : pd.bias_desc();
      m.dst = pd.dst_desc();
      m.scratchpad = pd.scratchpad_desc();
      if (bias_after(g)) {
        const MemoryDesc add = bias_add_pd(ctx, g).scratchpad_desc();
        if (add.get_size() > m.scratchpad.get_size()) m.scratchpad = add;
      }
    } else if (pass == PrimitivePass::backward_data) {
      const auto pd = bwd_data_pd(ctx, g, fwd_pd(ctx, g, true));
      m.diff_dst = pd.diff_dst_desc();
      m.weights = pd.weights_desc();
      m.diff_src = pd.diff_src_desc();
      m.scratchpad = pd.scratchpad_desc();
    } else if (pass == PrimitivePass::backward_weights) {
      const auto pd = bwd_weights_pd(ctx, g, fwd_pd(ctx, g, true));
      m.src = pd.src_desc();
      m.diff_dst = pd.diff_dst_desc();
      m.diff_weights = pd.diff_weights_desc();
      if (g.bias) m.diff_bias = pd.diff_bias_desc();
      m.scratchpad = pd.scratchpad_desc();
    } else {
      throw std::invalid_argument(std::string(g.op) + ": no such pass to describe");
    }
    return m;
  }

  static Plan& plan(Context& ctx, const ConvGeometry& g, bool training) {
    const std::string k = key(ctx, g, training);
    return ctx.cache().template get<Plan>(k, [&] {
      const auto pd = fwd_pd(ctx, g, training);
      noted(ctx, k, "fwd", pd);
      Plan plan{pd, Fwd(pd), std::nullopt, BwdData(), std::nullopt, BwdWeights(), std::nullopt,
                dnnl::binary()};
      if (bias_after(g)) {
        plan.bias_pd.emplace(bias_add_pd(ctx, g));
        noted(ctx, k, "bias", *plan.bias_pd);
        plan.bias_add = dnnl::binary(*plan.bias_pd);
      }
      return plan;
    });
  }

  // dst = op(src, weights) + bias; returns dst in the activation layout and the
  // src actually used (in the primitive's layout) through `used_src`.
  static Tensor forward(Context& ctx, const ConvGeometry& g, const Tensor& src,
                        const Tensor& weights, const Tensor& bias, bool training,
                        Tensor* used_src) {
    if (bias.defined()) {
      require_f32(bias, 1, g.op, "bias");
      require(bias.dim(0) == g.weights[0], g.op,
              "bias has " + std::to_string(bias.dim(0)) + " channels, weights " +
                  std::to_string(g.weights[0]));
    }
    Plan& p = plan(ctx, g, training);
    Tensor s = src.to(ctx, p.fwd_pd.src_desc());
    Tensor w = weights.to(ctx, p.fwd_pd.weights_desc());
    Tensor dst = ctx.empty(p.fwd_pd.dst_desc());
    Args args{{DNNL_ARG_SRC, s.memory(ctx.engine())},
              {DNNL_ARG_WEIGHTS, w.memory(ctx.engine())},
              {DNNL_ARG_DST, dst.memory(ctx.engine())}};
    if (g.bias && !bias_after(g))
      args[DNNL_ARG_BIAS] = bias.to(ctx, p.fwd_pd.bias_desc()).memory(ctx.engine());
    ctx.execute(p.fwd, p.fwd_pd.scratchpad_desc(), std::move(args));
    if (bias_after(g)) {
      const Tensor b = bias.to(ctx, bias_desc(g));
      dnnl::memory dst_mem = dst.memory(ctx.engine());
      ctx.execute(p.bias_add, p.bias_pd->scratchpad_desc(),
                  {{DNNL_ARG_SRC_0, dst_mem},
                   {DNNL_ARG_SRC_1, dnnl::memory(p.bias_pd->src_desc(1), ctx.engine(), b.data())},
                   {DNNL_ARG_DST, dst_mem}});
    }
    if (used_src != nullptr) *used_src = s;
    return dst;
  }

  static ConvGrads backward(Context& ctx, const ConvGeometry& g, const Tensor& diff_dst,
                            const Tensor& src, const Tensor& weights, bool need_diff_src) {
    require_f32(diff_dst, 5, g.op, "diff_dst");
    require(diff_dst.dims() == g.dst, g.op,
            "diff_dst " + dims_text(diff_dst.dims()) + ", expected " + dims_text(g.dst));
    Plan& p = plan(ctx, g, true);
    const std::string k = key(ctx, g, true);
    ConvGrads grads;
    Tensor dd;  // diff_dst in the layout the backward primitives take
    if (need_diff_src) {
      if (!p.bwd_data_pd) {
        p.bwd_data_pd.emplace(bwd_data_pd(ctx, g, p.fwd_pd));
        noted(ctx, k, "bwd_data", *p.bwd_data_pd);
        p.bwd_data = BwdData(*p.bwd_data_pd);
      }
      const auto& pd = *p.bwd_data_pd;
      dd = diff_dst.to(ctx, pd.diff_dst_desc());
      Tensor w = weights.to(ctx, pd.weights_desc());
      grads.diff_src = ctx.empty(pd.diff_src_desc());
      ctx.execute(p.bwd_data, pd.scratchpad_desc(),
                  {{DNNL_ARG_DIFF_DST, dd.memory(ctx.engine())},
                   {DNNL_ARG_WEIGHTS, w.memory(ctx.engine())},
                   {DNNL_ARG_DIFF_SRC, grads.diff_src.memory(ctx.engine())}});
    }
    if (!p.bwd_weights_pd) {
      p.bwd_weights_pd.emplace(bwd_weights_pd(ctx, g, p.fwd_pd));
      noted(ctx, k, "bwd_weights", *p.bwd_weights_pd);
      p.bwd_weights = BwdWeights(*p.bwd_weights_pd);
    }
    const auto& pd = *p.bwd_weights_pd;
    Tensor s = src.to(ctx, pd.src_desc());
    if (!dd.defined() || dd.desc() != pd.diff_dst_desc()) dd = diff_dst.to(ctx, pd.diff_dst_desc());
    Tensor dw = ctx.empty(pd.diff_weights_desc());
    Args args{{DNNL_ARG_SRC, s.memory(ctx.engine())},
              {DNNL_ARG_DIFF_DST, dd.memory(ctx.engine())},
              {DNNL_ARG_DIFF_WEIGHTS, dw.memory(ctx.engine())}};
    if (g.bias) {
      grads.diff_bias = ctx.empty(pd.diff_bias_desc());
      args[DNNL_ARG_DIFF_BIAS] = grads.diff_bias.memory(ctx.engine());
    }
    ctx.execute(p.bwd_weights, pd.scratchpad_desc(), std::move(args));
    grads.diff_weights = dw.to(ctx, Tensor::plain(g.weights));
    return grads;
  }
};

}  // namespace tensortier::runtime::detail
