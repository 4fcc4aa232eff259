#include "llava/llava.h"

#include <filesystem>

#include "tensor/error.h"

namespace adallava {
namespace fs = std::filesystem;

namespace {

int feature_index(const ModelConfig& c, const std::string& field) {
  const int n = c.vision.num_layers;
  const int idx = c.vision_feature_layer < 0 ? n + 1 + c.vision_feature_layer : c.vision_feature_layer;
  if (idx < 0 || idx > n)
    throw Error(c.path + ": field " + field + " = " + std::to_string(c.vision_feature_layer) + " is outside the " +
                std::to_string(n + 1) + " hidden states of the vision tower");
  return idx;
}

// The original layout names its CLIP folder in mm_vision_tower: a local path, relative to the
// model folder or the working directory (a hub id must be given with --vision-tower).
std::string resolve_vision_tower(const std::string& model_dir, const ModelConfig& c, const LoadOptions& o) {
  if (!o.vision_tower_dir.empty()) {
    if (!fs::is_directory(o.vision_tower_dir)) throw Error(o.vision_tower_dir + ": vision tower folder not found");
    return o.vision_tower_dir;
  }
  for (const fs::path& p : {fs::path(model_dir) / c.vision_tower, fs::path(c.vision_tower)})
    if (fs::is_directory(p)) return p.string();
  throw Error(c.path + ": mm_vision_tower '" + c.vision_tower +
              "' is not a folder here; give the CLIP checkpoint folder as the model's vision tower");
}

}  // namespace

std::vector<std::pair<const void*, size_t>> LlavaModel::weight_spans() const {
  std::vector<std::pair<const void*, size_t>> spans;
  for (auto& store : stores_)
    for (auto& [name, r] : store->records()) spans.push_back({r.data, r.nbytes});
  return spans;
}

const TensorRecord* LlavaModel::find_tensor(const std::string& name) const {
  for (auto& store : stores_)
    if (const TensorRecord* r = store->find(name)) return r;
  return nullptr;
}

const TensorRecord* LlavaModel::vision_tensor(const std::string& name) const {
  return vision_store_ ? vision_store_->find(vision_prefix_ + name) : nullptr;
}

int LlavaModel::image_tokens() const {
  return vision_ ? vision_->config().num_patches() + (cfg_.keep_cls ? 1 : 0) : 0;
}

std::unique_ptr<LlavaModel> LlavaModel::load(const std::string& dir, const LoadOptions& opts) {
  if (fs::path(dir).extension() == ".gguf" && !fs::is_directory(dir)) return load_gguf(dir, opts.mmproj);
  if (!opts.mmproj.empty()) throw Error(opts.mmproj + ": an mmproj file goes with a GGUF text model, not a folder");
  auto m = std::make_unique<LlavaModel>();
  m->dir_ = dir;
  m->cfg_ = load_model_config(dir);
  ModelConfig& c = m->cfg_;
  m->stores_.push_back(std::make_unique<TensorStore>(TensorStore::open_dir(dir)));
  std::string vision_dir = dir, vision_prefix = names::layout_names(c.layout).vision;
  const TensorStore* vision_store = m->stores_[0].get();
  const bool embedded_tower = c.layout == Layout::OriginalLlava && opts.vision_tower_dir.empty() &&
                              c.raw.contains("vision_config") &&
                              m->stores_[0]->has(kEmbeddedVisionPrefix + std::string(names::kPatch));
  if (embedded_tower) {  // a self-contained checkpoint (trained here with the tower): see llava.h
    c.vision = load_vision_config(dir);
    vision_prefix = kEmbeddedVisionPrefix;
  } else if (c.layout == Layout::OriginalLlava) {
    vision_dir = resolve_vision_tower(dir, c, opts);
    c.vision = load_vision_config(vision_dir);
    m->stores_.push_back(std::make_unique<TensorStore>(TensorStore::open_dir(vision_dir)));
    vision_store = m->stores_.back().get();
    vision_prefix = names::kClipPrefix;
  }
  if (c.layout == Layout::OriginalLlava && c.mm_hidden_size != c.vision.hidden_size)
    throw Error(c.path + ": mm_hidden_size " + std::to_string(c.mm_hidden_size) +
                " does not match the vision tower's hidden_size " + std::to_string(c.vision.hidden_size));
  m->bind_weights(*m->stores_[0], vision_store, vision_prefix);
  m->vision_dir_ = vision_dir;
  if (c.has_vision) {
    m->preprocess_ = load_preprocess_config(vision_dir, c.vision.image_size);
    m->preprocess_.pad_to_square = c.pad_to_square;
    if (m->preprocess_.crop_height != c.vision.image_size || m->preprocess_.crop_width != c.vision.image_size)
      throw Error(vision_dir + "/preprocessor_config.json: crop size does not match the vision tower's image_size " +
                  std::to_string(c.vision.image_size));
  }
  return m;
}

std::unique_ptr<LlavaModel> LlavaModel::from_store(const ModelConfig& cfg, std::unique_ptr<TensorStore> store,
                                                   const PreprocessConfig& preprocess) {
  auto m = std::make_unique<LlavaModel>();
  m->dir_ = store->origin();
  m->cfg_ = cfg;
  m->stores_.push_back(std::move(store));
  m->bind_weights(*m->stores_[0], m->stores_[0].get(), names::layout_names(cfg.layout).vision);
  m->preprocess_ = preprocess;
  return m;
}

void LlavaModel::bind_weights(const TensorStore& main, const TensorStore* vision_store,
                              const std::string& vision_prefix) {
  const ModelConfig& c = cfg_;
  const int64_t H = c.text.hidden_size;
  token_selection_ = TokenSelection::from_config(c.token_selecting, c.path);
  vision_store_ = vision_store;
  vision_prefix_ = vision_prefix;
  const names::LayoutNames n = names::layout_names(c.layout);
  if (c.layout != Layout::TextOnly) {
    projector_.l1 = load_linear(main, n.projector1, H, c.vision.hidden_size, true);
    projector_.l2 = load_linear(main, n.projector2, H, H, true);
  }
  projector_.act = c.projector_act;
  decoder_ = LlamaDecoder::load(main, c.text, n.decoder, n.lm_head);
  if (is_adallava(c)) adaptive_ = AdaLlavaParts::load(main, c);
  weight_dtype_ = decoder_->embed_weight().dtype;
  if (c.has_vision) {
    const std::string field = c.layout == Layout::HfLlava ? "vision_feature_layer" : "mm_vision_select_layer";
    vision_ = ClipVisionTower::load(*vision_store, c.vision, vision_prefix, feature_index(c, field));
  }
}

std::vector<float> LlavaModel::encode_image(const float* pixels, Precision p, const TokenSelection* selection,
                                            PruMergeTrace* trace) const {
  const TokenSelection& sel = selection ? *selection : token_selection_;
  std::vector<float> last_input;
  const std::vector<float> hidden = vision_->encode(pixels, p, nullptr, nullptr, sel.merges_patches() ? &last_input : nullptr);
  const int64_t C = vision_->config().hidden_size;
  if (sel.merges_patches()) {
    const int n = vision_->config().num_layers;
    if (cfg_.keep_cls) throw Error(cfg_.path + ": " + sel.name() + " selects patch features; this model keeps the CLS row too");
    if (!vision_->selection_layer())
      throw Error(cfg_.path + ": " + sel.name() + " needs the vision tower's last layer (" + std::to_string(n - 1) +
                  ") and a feature layer of -2 or -1 (its input or output); this model has feature layer " +
                  std::to_string(vision_->feature_index()) + " of " + std::to_string(n) +
                  (vision_->feature_index() == n - 1 ? " but not the last layer's weights" : ""));
    const int64_t N = vision_->config().num_patches();
    const float* input = last_input.empty() ? hidden.data() : last_input.data();
    const std::vector<float> merged = prumerge(input, hidden.data(), N, vision_->config(), *vision_->selection_layer(),
                                               sel.kind == TokenSelection::PruMergePlus, p, trace);
    return projector_.forward(merged.data(), int64_t(merged.size()) / C, p);
  }
  const int64_t skip = cfg_.keep_cls ? 0 : 1;  // strategy "default"/"patch" drops CLS
  return projector_.forward(hidden.data() + skip * C, vision_->tokens() - skip, p);
}

std::vector<float> LlavaModel::merge_embeddings(const std::vector<int64_t>& ids,
                                                const std::vector<float>* image_features,
                                                std::vector<int64_t>* merged_ids) const {
  const int64_t H = cfg_.text.hidden_size;
  const int64_t image_id = cfg_.image_token_id;
  int64_t n_placeholders = 0;
  for (int64_t id : ids) n_placeholders += id == image_id;
  const int64_t n_img = image_features ? int64_t(image_features->size()) / H : 0;
  if (n_placeholders > 0 && !image_features)
    throw Error("the prompt has an image token (" + std::to_string(image_id) + ") but no image was given");
  if (image_features && n_placeholders == 0)
    throw Error("an image was given but the prompt has no image token (" + std::to_string(image_id) + ")");
  if (n_placeholders > 1 && n_placeholders != n_img)
    throw Error("the prompt has " + std::to_string(n_placeholders) + " image tokens; expected 1 or " +
                std::to_string(n_img) + " (one image)");
  const bool expand = n_placeholders == 1;
  const int64_t T = int64_t(ids.size()) + (expand ? n_img - 1 : 0);
  std::vector<float> out(size_t(T * H));
  if (merged_ids) merged_ids->clear();
  int64_t row = 0, img_row = 0;
  for (int64_t id : ids) {
    if (id == image_id) {
      const int64_t n = expand ? n_img : 1;
      std::copy(image_features->begin() + img_row * H, image_features->begin() + (img_row + n) * H,
                out.begin() + row * H);
      img_row += n;
      row += n;
      if (merged_ids) merged_ids->insert(merged_ids->end(), size_t(n), image_id);
    } else {
      decoder_->embed(out.data() + row * H, &id, 1);
      ++row;
      if (merged_ids) merged_ids->push_back(id);
    }
  }
  return out;
}

}  // namespace adallava
