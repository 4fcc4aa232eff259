#include "synth/dataset.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_write.h"
#include "synth/questions.h"
#include "synth/scene.h"
#include "tensor/error.h"
#include "text/chat_template.h"
#include "text/tokenizer_trainer.h"
#include "vision/image.h"

namespace adallava::synth {

namespace fs = std::filesystem;

namespace {

// A LLaVA conversation: the turns in order, the image marked in the first.
nlohmann::json conversation(const std::vector<QuestionAnswer>& turns) {
  nlohmann::json c = nlohmann::json::array();
  for (size_t t = 0; t < turns.size(); ++t) {
    c.push_back({{"from", "human"}, {"value", (t == 0 ? "<image>\n" : "") + turns[t].question}});
    c.push_back({{"from", "gpt"}, {"value", turns[t].answer}});
  }
  return c;
}

// A LLaVA record: an image and a conversation about it.
nlohmann::json record(const std::string& id, const std::string& image, const std::string& kind,
                      const std::vector<QuestionAnswer>& turns) {
  return {{"id", id}, {"image", image}, {"kind", kind}, {"conversations", conversation(turns)}};
}

// One split: scenes, images and questions from the split's own stream.
// Training splits also fill captions (pretrain.json), lookups (retrieval.json) and, with
// --caption-last, the same conversations without their caption (train-questions.json).
nlohmann::json make_split(const DatasetOptions& o, const std::string& name, int n, int turns, uint64_t stream,
                          std::vector<std::string>& text, nlohmann::json* captions, nlohmann::json* lookup_records,
                          nlohmann::json* questions_only) {
  Rng rng(o.seed * 0x9e3779b97f4a7c15ull + stream);
  nlohmann::json records = nlohmann::json::array();
  const fs::path images = fs::path(o.out) / "images";
  for (int i = 0; i < n; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "%s-%06d", name.c_str(), i);
    const auto [scene, qa] = sample_example(rng, o.image_size, o.min_objects, o.max_objects);
    const std::string file = std::string(id) + ".png";
    write_png((images / file).string(), render(scene));
    // Later turns: more questions about the same image, each a different question.
    std::vector<QuestionAnswer> qas = {qa};
    for (int attempt = 0; int(qas.size()) < turns && attempt < 8 * turns; ++attempt) {
      QuestionAnswer more = ask_any(scene, rng);
      bool repeated = false;
      for (const QuestionAnswer& q : qas) repeated = repeated || q.question == more.question;
      if (!repeated) qas.push_back(std::move(more));
    }
    const QuestionAnswer caption = describe(scene);
    if (questions_only)
      questions_only->push_back(record(id, file, qa.kind, qas));
    // The caption goes last, so that no question can read its answer from it.
    if (captions && o.caption_last) qas.push_back(caption);
    for (const QuestionAnswer& q : qas) text.insert(text.end(), {q.question, q.answer});
    records.push_back(record(id, file, qa.kind, qas));
    if (captions) {
      captions->push_back(record(std::string(id) + "-caption", file, caption.kind, {caption}));
      text.push_back(caption.answer);
    }
    if (lookup_records && scene.objects.size() >= 2) {
      // Up to `turns` look-ups in an order drawn from the scene's own seed (the split's stream,
      // and so train.json, is untouched), then the caption. Their words are all in the text
      // above already, so the tokenizer does not change either.
      std::vector<QuestionAnswer> l = lookups(scene);
      Rng order(scene.style_seed ^ 0x5bd1e995ull);
      for (size_t k = l.size(); k > 1; --k) std::swap(l[k - 1], l[size_t(order.below(int(k)))]);
      if (int(l.size()) > turns) l.resize(size_t(turns));
      if (!l.empty()) {
        l.push_back(caption);
        lookup_records->push_back(record(std::string(id) + "-lookup", file, "lookup", l));
      }
    }
  }
  return records;
}

void write_json(const fs::path& path, const nlohmann::json& j) { write_file_atomically(path.string(), j.dump(1) + "\n"); }

}  // namespace

DatasetSummary write_dataset(const DatasetOptions& o) {
  if (o.image_size < 32 || o.image_size > 1024) throw OptionError("image_size", std::to_string(o.image_size) + " is not in [32, 1024]");
  std::error_code ec;
  fs::create_directories(fs::path(o.out) / "images", ec);
  if (ec) throw Error(o.out + ": cannot create the data set folder: " + ec.message());
  DatasetSummary sum;
  sum.train = o.train;
  sum.val = o.val >= 0 ? o.val : std::max(100, o.train / 10);
  sum.test = o.test >= 0 ? o.test : std::max(100, o.train / 10);
  std::vector<std::string> text;
  if (o.turns < 1 || o.turns > 32) throw OptionError("turns", std::to_string(o.turns) + " is not in [1, 32]");
  // Two objects at least sometimes: spatial questions need a pair.
  if (o.min_objects < 1 || o.max_objects < 2 || o.max_objects > 5 || o.min_objects > o.max_objects)
    throw OptionError("min_objects", "and max_objects must satisfy 1 <= min <= max <= 5, max >= 2");
  const std::pair<const char*, int> splits[] = {{"train", sum.train}, {"val", sum.val}, {"test", sum.test}};
  nlohmann::json captions = nlohmann::json::array(), lookup_records = nlohmann::json::array(),
                 questions_only = nlohmann::json::array();
  for (size_t k = 0; k < 3; ++k)
    write_json(fs::path(o.out) / (std::string(splits[k].first) + ".json"),
               make_split(o, splits[k].first, splits[k].second, k == 0 ? o.turns : 1, k + 1, text,
                          k == 0 ? &captions : nullptr, k == 0 ? &lookup_records : nullptr,
                          k == 0 && o.caption_last ? &questions_only : nullptr));
  write_json(fs::path(o.out) / "pretrain.json", captions);
  write_json(fs::path(o.out) / "retrieval.json", lookup_records);
  // AdaLLaVA training puts the latency token before a conversation's last answer (spec §3), so
  // its data must end with a question, not a caption: a model trained on train.json with
  // --caption-last learnt "latency token → caption" and answered questions with nothing.
  if (o.caption_last) write_json(fs::path(o.out) / "train-questions.json", questions_only);
  // The template's own words, as often as the questions, so that its system prompt (in every
  // training sequence) becomes a few whole-word pieces instead of ~130 characters.
  const ChatTemplate t = chat_template("vicuna_v1");
  const std::string prompt = render_prompt(t, {{"Is there a red circle?", "yes"}});
  for (size_t i = 0, n = text.size() / 2; i < n; ++i) text.push_back(prompt);
  train_tokenizer(text, TokenizerTrainOptions{o.vocab, true}, (fs::path(o.out) / "tokenizer.model").string());
  return sum;
}

}  // namespace adallava::synth
