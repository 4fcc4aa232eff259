#include "vision/clip_preprocess.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/json_number.h"
#include "tensor/error.h"
#include "vision/pil_resize.h"

namespace adallava {
namespace fs = std::filesystem;
using json = nlohmann::json;

PreprocessConfig load_preprocess_config(const std::string& dir, int image_size) {
  PreprocessConfig c;
  c.shortest_edge = c.crop_height = c.crop_width = image_size;
  const std::string path = (fs::path(dir) / "preprocessor_config.json").string();
  if (!fs::exists(path)) return c;
  std::ifstream in(path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(path + ": not a valid JSON object");
  auto bad = [&](const std::string& f) { return Error(path + ": field " + f + " has an unexpected value"); };
  auto side = [&](const json& v, const std::string& f) { return int(json_integer(v, path + ": field " + f, 1, 8192)); };
  auto three = [&](const char* f) {
    const json& v = j[f];
    if (!v.is_array() || v.size() != 3) throw bad(std::string(f) + " (3 values expected)");
    std::array<float, 3> out;
    for (size_t i = 0; i < 3; ++i) out[i] = json_float(v[i], path + ": field " + f);
    return out;
  };
  try {
    if (j.contains("size")) {
      const json& s = j["size"];
      if (s.is_number()) c.shortest_edge = side(s, "size");
      else if (s.is_object() && s.contains("shortest_edge")) c.shortest_edge = side(s["shortest_edge"], "size.shortest_edge");
      else throw bad("size (only shortest_edge resizing is supported)");
    }
    if (j.contains("crop_size")) {
      const json& s = j["crop_size"];
      if (s.is_number()) c.crop_height = c.crop_width = side(s, "crop_size");
      else if (s.is_object())
        c.crop_height = side(s.at("height"), "crop_size.height"), c.crop_width = side(s.at("width"), "crop_size.width");
      else throw bad("crop_size");
    }
    c.do_resize = j.value("do_resize", true);
    c.do_center_crop = j.value("do_center_crop", true);
    c.do_rescale = j.value("do_rescale", true);
    c.do_normalize = j.value("do_normalize", true);
    if (j.contains("rescale_factor")) c.rescale_factor = json_float(j["rescale_factor"], path + ": field rescale_factor");
    if (j.contains("image_mean")) c.mean = three("image_mean");
    if (j.contains("image_std")) c.std = three("image_std");
    if (j.contains("resample") && json_integer(j["resample"], path + ": field resample", 0, 5) != 3)
      throw bad("resample (only 3 = bicubic is supported)");
  } catch (const json::exception& e) {
    throw Error(path + ": " + e.what());
  }
  if (c.shortest_edge <= 0 || c.crop_height <= 0 || c.crop_width <= 0 || c.shortest_edge > 8192)
    throw bad("size/crop_size");
  return c;
}

RgbImage expand_to_square(const RgbImage& img, const std::array<float, 3>& mean) {
  if (img.width == img.height) return img;
  const int side = img.width > img.height ? img.width : img.height;
  RgbImage out;
  out.width = out.height = side;
  out.pixels.resize(size_t(side) * size_t(side) * 3);
  uint8_t bg[3];
  for (int c = 0; c < 3; ++c) bg[c] = uint8_t(int(mean[size_t(c)] * 255));  // Python int(): truncation
  for (size_t i = 0; i < out.pixels.size(); i += 3) out.pixels[i] = bg[0], out.pixels[i + 1] = bg[1], out.pixels[i + 2] = bg[2];
  const int x0 = (side - img.width) / 2, y0 = (side - img.height) / 2;
  for (int y = 0; y < img.height; ++y)
    std::copy(img.row(y), img.row(y) + size_t(img.width) * 3, out.row(y + y0) + size_t(x0) * 3);
  return out;
}

void resize_target(int w, int h, int s, int64_t* out_w, int64_t* out_h) {
  const bool w_short = w <= h;
  const int64_t shorter = w_short ? w : h, longer = w_short ? h : w;
  const int64_t new_long = int64_t(s) * longer / shorter;  // int(S * long / short), S*long exact in int64
  *out_w = w_short ? s : new_long;
  *out_h = w_short ? new_long : s;
}

namespace {

void check_work(int64_t w, int64_t h, const std::string& step, const RgbImage& in, const PreprocessConfig& cfg) {
  if (w > cfg.max_work_pixels / h)
    throw Error("image of " + std::to_string(in.width) + "x" + std::to_string(in.height) + " pixels is too elongated: " +
                step + " it makes " + std::to_string(w) + "x" + std::to_string(h) + " pixels, more than the limit of " +
                std::to_string(cfg.max_work_pixels));
}

}  // namespace

RgbImage clip_resize(const RgbImage& in, const PreprocessConfig& cfg) {
  if (cfg.pad_to_square) {
    const int64_t side = std::max(in.width, in.height);
    check_work(side, side, "padding it to a square", in, cfg);
  }
  RgbImage img = cfg.pad_to_square ? expand_to_square(in, cfg.mean) : in;
  if (!cfg.do_resize) return img;
  int64_t w, h;
  resize_target(img.width, img.height, cfg.shortest_edge, &w, &h);
  check_work(w, h, "resizing its shorter side to " + std::to_string(cfg.shortest_edge) + " pixels", in, cfg);
  return pil_resize_bicubic(img, int(w), int(h));
}

std::vector<float> clip_preprocess(const RgbImage& in, const PreprocessConfig& cfg) {
  RgbImage img = clip_resize(in, cfg);
  const int ch = cfg.do_center_crop ? cfg.crop_height : img.height;
  const int cw = cfg.do_center_crop ? cfg.crop_width : img.width;
  const int top = (img.height - ch) / 2, left = (img.width - cw) / 2;
  if (top < 0 || left < 0) throw Error("image smaller than the crop after resizing");
  std::vector<float> out(size_t(3) * size_t(ch) * size_t(cw));
  for (int y = 0; y < ch; ++y)
    for (int x = 0; x < cw; ++x)
      for (int c = 0; c < 3; ++c) {
        float v = img.row(y + top)[(x + left) * 3 + c];
        if (cfg.do_rescale) v = float(double(img.row(y + top)[(x + left) * 3 + c]) * cfg.rescale_factor);
        if (cfg.do_normalize) v = (v - cfg.mean[size_t(c)]) / cfg.std[size_t(c)];
        out[(size_t(c) * size_t(ch) + size_t(y)) * size_t(cw) + size_t(x)] = v;
      }
  return out;
}

}  // namespace adallava
