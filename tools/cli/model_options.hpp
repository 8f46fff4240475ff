// The 3D U-Net options shared by `train`, `infer` and `plan`: volume size,
// batch, levels, filters, classes, activation, normalisation.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/data/synthetic_brats.hpp"
#include "runtime/model/unet3d.hpp"
#include "tensortier/status.hpp"

namespace CLI {
class App;
}

namespace tensortier::cli {

struct ModelCommand {
  std::string size = "64";
  int batch = 1, levels = 4, base_filters = 16, classes = 4;
  std::string activation = "relu", norm = "batch";
};

// Adds --size, --batch, --levels, --base-filters, --classes, --activation, --norm.
void add_model_options(CLI::App* command, ModelCommand& model);

// "N" (a cube) or "DxHxW"; the error names --size and what is accepted.
Result<data::Dims3> parse_dims(const std::string& text);

// The U-Net configuration of the options (4 input modalities), unvalidated.
runtime::model::UNet3dConfig unet_config(const ModelCommand& model);

// {"levels", "base_filters", "in_channels", "classes", "class_names",
// "activation", "norm"} of a report's "config".
nlohmann::json model_json(const runtime::model::UNet3dConfig& config,
                          const std::vector<std::string>& class_names);

// "3D U-Net 4 levels, base 16, 4 -> 4 classes, batch norm, relu".
std::string model_text(const runtime::model::UNet3dConfig& config, const ModelCommand& model);

}  // namespace tensortier::cli
