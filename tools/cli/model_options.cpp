// Options of the 3D U-Net shared by the subcommands.
#include "model_options.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace tensortier::cli {

void add_model_options(CLI::App* c, ModelCommand& m) {
  c->add_option("--size", m.size, "Volume size: N (cube) or DxHxW (default 64)");
  c->add_option("--batch", m.batch, "Cases per step (default 1)");
  c->add_option("--levels", m.levels, "U-Net levels incl. the bottom one (default 4)");
  c->add_option("--base-filters", m.base_filters, "Filters of level 0, doubled per level (default 16)");
  c->add_option("--classes", m.classes,
                "Output classes: 4 (bg, necrotic, edema, enhancing), 3 (bg, tumour core, edema), "
                "2 (bg, whole tumour)")->check(CLI::Range(2, 4));
  c->add_option("--activation", m.activation, "relu (fused into the norm) or leaky_relu")
      ->check(CLI::IsMember({"relu", "leaky_relu"}));
  c->add_option("--norm", m.norm, "batch or none")->check(CLI::IsMember({"batch", "none"}));
}

Result<data::Dims3> parse_dims(const std::string& text) {
  data::Dims3 d;
  int n = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%dx%dx%d%c", &d.depth, &d.height, &d.width, &tail) == 3) return d;
  if (std::sscanf(text.c_str(), "%d%c", &n, &tail) == 1 && n > 0) return data::Dims3{n, n, n};
  return Status(Errc::invalid_argument,
                "--size '" + text + "': accepted: N (a cube) or DxHxW, e.g. 64 or 155x240x240");
}

runtime::model::UNet3dConfig unet_config(const ModelCommand& m) {
  runtime::model::UNet3dConfig c;
  c.levels = m.levels;
  c.base_filters = m.base_filters;
  c.classes = m.classes;
  c.activation = m.activation == "relu" ? runtime::model::Activation::relu
                                        : runtime::model::Activation::leaky_relu;
  c.batch_norm = m.norm == "batch";
  return c;
}

nlohmann::json model_json(const runtime::model::UNet3dConfig& c,
                          const std::vector<std::string>& class_names) {
  return {{"levels", c.levels},
          {"base_filters", c.base_filters},
          {"in_channels", c.in_channels},
          {"classes", c.classes},
          {"class_names", class_names},
          {"activation", c.activation == runtime::model::Activation::relu ? "relu" : "leaky_relu"},
          {"norm", c.batch_norm ? "batch" : "none"}};
}

std::string model_text(const runtime::model::UNet3dConfig& c, const ModelCommand& m) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "3D U-Net %d levels, base %d, %d -> %d classes, %s%s", c.levels,
                c.base_filters, c.in_channels, c.classes, c.batch_norm ? "batch norm, " : "",
                m.activation.c_str());
  return buf;
}

}  // namespace tensortier::cli
