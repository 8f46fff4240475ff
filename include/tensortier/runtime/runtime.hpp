// The 3D convolution runtime in one include: tensors on the tiered allocator,
// the execution context, and the U-Net ops (docs/runtime.md).
#pragma once

#include "tensortier/runtime/activation.hpp"
#include "tensortier/runtime/batch_norm3d.hpp"
#include "tensortier/runtime/concat.hpp"
#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/conv3d.hpp"
#include "tensortier/runtime/conv_transpose3d.hpp"
#include "tensortier/runtime/cross_entropy.hpp"
#include "tensortier/runtime/dice_loss.hpp"
#include "tensortier/runtime/elementwise.hpp"
#include "tensortier/runtime/max_pool3d.hpp"
#include "tensortier/runtime/optimizers.hpp"
#include "tensortier/runtime/primitive_cache.hpp"
#include "tensortier/runtime/softmax.hpp"
#include "tensortier/runtime/tensor.hpp"
