// Tensors on the tensortier allocator, layout conversions, the primitive
// cache and the user scratchpad.
#include "runtime_test_support.hpp"

namespace tensortier::runtime::test {
namespace {

TEST_F(RuntimeTest, TensorBytesAreCountedByTheAllocator) {
  const std::uint64_t before = dram_current_bytes();
  {
    Tensor t = Tensor::empty(alloc, {2, 4, 16, 16, 16});
    EXPECT_EQ(t.bytes(), 2u * 4 * 16 * 16 * 16 * sizeof(float));
    EXPECT_GE(dram_current_bytes(), before + t.bytes());
    EXPECT_TRUE(alloc.owns(t.data()));
    Tensor shared = t;  // same storage, no new block
    EXPECT_EQ(shared.data(), t.data());
    EXPECT_GE(dram_current_bytes(), before + t.bytes());
    Tensor ws = ctx.empty(ctx.activation_desc({1, 8, 8, 8, 8}));
    EXPECT_TRUE(alloc.owns(ws.data()));
  }
  EXPECT_EQ(dram_current_bytes(), before);
}

TEST_F(RuntimeTest, ChannelsLastLayoutAndRoundTrip) {
  const Dims dims = {2, 3, 4, 5, 6};
  const RefTensor values = random_ref(dims, 1);
  const Tensor plain = to_tensor(values);
  EXPECT_TRUE(plain.is_plain());
  const Tensor cl = plain.to(ctx, Tensor::channels_last(dims));
  EXPECT_TRUE(cl.is_channels_last());
  EXPECT_NE(cl.data(), plain.data());
  // ndhwc: channels innermost.
  const float* p = cl.f32();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t z = 0; z < 4; ++z)
        for (std::int64_t y = 0; y < 5; ++y)
          for (std::int64_t x = 0; x < 6; ++x)
            ASSERT_EQ(p[(((n * 4 + z) * 5 + y) * 6 + x) * 3 + c],
                      static_cast<float>(values.v[values.at(n, c, z, y, x)]));
  expect_close(values, ref_of(ctx, cl), 0, 0, "round trip");
  EXPECT_EQ(cl.to(ctx, cl.desc()).data(), cl.data());  // no copy when already there

  Tensor target = ctx.empty(Tensor::channels_last(dims));
  std::vector<float> flat(values.v.begin(), values.v.end());
  target.copy_from(ctx, flat);
  EXPECT_EQ(target.to_vector(ctx), flat);
}

TEST_F(RuntimeTest, ViewFillAndClone) {
  Tensor t = Tensor::empty(alloc, {2, 3, 4});
  t.fill(1.5f);
  const Tensor flat = t.view(Tensor::plain({24}));
  EXPECT_EQ(flat.data(), t.data());
  EXPECT_EQ(flat.f32()[23], 1.5f);
  EXPECT_THROW(t.view(Tensor::plain({25})), std::invalid_argument);
  const Tensor copy = t.clone(alloc);
  EXPECT_NE(copy.data(), t.data());
  EXPECT_EQ(copy.f32()[5], 1.5f);
  t.zero();
  EXPECT_EQ(t.f32()[5], 0.f);
  EXPECT_EQ(copy.f32()[5], 1.5f);
  // Blocked weights with padding (3 output channels padded to 8) refuse fill().
  Tensor blocked = Tensor::zeros(alloc, MemoryDesc({3, 3, 3, 3, 3}, DataType::f32, Tag::ABcde8a8b));
  EXPECT_GT(blocked.bytes(), 3u * 3 * 27 * sizeof(float));
  EXPECT_THROW(blocked.fill(1.f), std::logic_error);
  EXPECT_THROW(Tensor::empty(alloc, {4}, DataType::u8).f32(), std::logic_error);
}

TEST_F(RuntimeTest, PrimitivesAreBuiltOncePerShape) {
  const Tensor x = to_tensor(random_ref({1, 4, 8, 8, 8}, 2));
  const Tensor w = to_tensor(random_ref({8, 4, 3, 3, 3}, 3));
  const Tensor b = to_tensor(random_ref({8}, 4));
  Conv3dSaved saved;
  Tensor y = conv3d_forward(ctx, x, w, b, {}, &saved);
  conv3d_backward(ctx, y, saved);
  const std::size_t plans = ctx.cache().size();
  const std::size_t impls = ctx.cache().impls().size();
  const std::size_t misses = ctx.cache().misses();
  for (int step = 0; step < 3; ++step) {
    y = conv3d_forward(ctx, x, w, b, {}, &saved);
    conv3d_backward(ctx, y, saved);
  }
  EXPECT_EQ(ctx.cache().size(), plans);
  EXPECT_EQ(ctx.cache().impls().size(), impls);
  EXPECT_EQ(ctx.cache().misses(), misses);
  EXPECT_GT(ctx.cache().hits(), 0u);
  // Another shape is another plan.
  conv3d_forward(ctx, to_tensor(random_ref({1, 4, 6, 8, 8}, 5)), w, b, {});
  EXPECT_GT(ctx.cache().size(), plans);
}

TEST_F(RuntimeTest, ScratchpadComesFromTheAllocator) {
  const std::uint64_t before = dram_current_bytes();
  std::size_t scratch = 0;
  {
    Context local(alloc);
    const Tensor x = to_tensor(random_ref({2, 8, 16, 16, 16}, 6));
    const Tensor w = to_tensor(random_ref({8, 8, 3, 3, 3}, 7));
    Conv3dSaved saved;
    Tensor y = conv3d_forward(local, x, w, Tensor(), {}, &saved);
    conv3d_backward(local, y, saved);
    scratch = local.scratchpad_bytes();
    if (scratch == 0) GTEST_SKIP() << "no primitive asked for a scratchpad on this ISA";
    EXPECT_GE(dram_current_bytes(), before + scratch);
  }
  EXPECT_EQ(dram_current_bytes(), before);  // freed with the context
}

TEST_F(RuntimeTest, BadShapesThrowWithTheOpName) {
  const Tensor x = to_tensor(random_ref({1, 4, 8, 8, 8}, 8));
  const Tensor w = to_tensor(random_ref({8, 3, 3, 3, 3}, 9));  // IC 3 != 4
  try {
    conv3d_forward(ctx, x, w, Tensor(), {});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("conv3d"), std::string::npos) << e.what();
  }
  EXPECT_THROW(max_pool3d_forward(ctx, to_tensor(random_ref({1, 2, 3, 4, 4}, 10))),
               std::invalid_argument);
  EXPECT_THROW(x.to(ctx, Tensor::channels_last({1, 4, 8, 8, 4})), std::invalid_argument);
  EXPECT_THROW(concat_forward(ctx, std::vector<Tensor>{x, to_tensor(random_ref({1, 4, 8, 8, 4}, 11))}),
               std::invalid_argument);
}

}  // namespace
}  // namespace tensortier::runtime::test
