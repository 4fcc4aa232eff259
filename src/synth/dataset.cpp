#include "synth/dataset.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "synth/questions.h"
#include "synth/scene.h"
#include "tensor/error.h"
#include "text/chat_template.h"
#include "text/tokenizer_trainer.h"
#include "vision/image.h"

namespace adallava::synth {

namespace fs = std::filesystem;

namespace {

// One split: scenes, images and questions from the split's own stream.
nlohmann::json make_split(const DatasetOptions& o, const std::string& name, int n, uint64_t stream,
                          std::vector<std::string>& text) {
  Rng rng(o.seed * 0x9e3779b97f4a7c15ull + stream);
  nlohmann::json records = nlohmann::json::array();
  const fs::path images = fs::path(o.out) / "images";
  for (int i = 0; i < n; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "%s-%06d", name.c_str(), i);
    const auto [scene, qa] = sample_example(rng, o.image_size);
    const std::string file = std::string(id) + ".png";
    write_png((images / file).string(), render(scene));
    records.push_back({{"id", id},
                       {"image", file},
                       {"kind", qa.kind},
                       {"conversations",
                        {{{"from", "human"}, {"value", "<image>\n" + qa.question}}, {{"from", "gpt"}, {"value", qa.answer}}}}});
    text.push_back(qa.question);
    text.push_back(qa.answer);
  }
  return records;
}

void write_json(const fs::path& path, const nlohmann::json& j) {
  const std::string tmp = path.string() + ".tmp";
  std::ofstream out(tmp);
  out << j.dump(1) << "\n";
  out.close();
  if (!out || std::rename(tmp.c_str(), path.string().c_str()) != 0) throw Error(path.string() + ": write failed");
}

}  // namespace

DatasetSummary write_dataset(const DatasetOptions& o) {
  if (o.image_size < 32 || o.image_size > 1024) throw Error("--image-size must be in [32, 1024]");
  std::error_code ec;
  fs::create_directories(fs::path(o.out) / "images", ec);
  if (ec) throw Error(o.out + ": cannot create the data set folder: " + ec.message());
  DatasetSummary sum;
  sum.train = o.train;
  sum.val = o.val >= 0 ? o.val : std::max(100, o.train / 10);
  sum.test = o.test >= 0 ? o.test : std::max(100, o.train / 10);
  std::vector<std::string> text;
  const std::pair<const char*, int> splits[] = {{"train", sum.train}, {"val", sum.val}, {"test", sum.test}};
  for (size_t k = 0; k < 3; ++k)
    write_json(fs::path(o.out) / (std::string(splits[k].first) + ".json"),
               make_split(o, splits[k].first, splits[k].second, k + 1, text));
  // The template's own words, so prompts tokenize into whole pieces too.
  const ChatTemplate t = chat_template("vicuna_v1");
  text.push_back(render_prompt(t, {{"Is there a red circle?", "yes"}}));
  train_tokenizer(text, TokenizerTrainOptions{o.vocab, true}, (fs::path(o.out) / "tokenizer.model").string());
  return sum;
}

}  // namespace adallava::synth
