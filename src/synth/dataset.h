// `adallava synth`: a visual question-answering data set in the LLaVA format, rendered here:
// DIR/train.json, DIR/val.json, DIR/test.json (records {id, image, kind, conversations}),
// DIR/pretrain.json (a caption of every training image, for the caption pre-training stage),
// DIR/retrieval.json (for every training image of two or more objects, up to --turns look-up
// questions, "What colour is the circle?" / "What shape is the red object?", then its caption: a
// dense curriculum for finding the object a question names),
// DIR/images/*.png, and DIR/tokenizer.model, a SentencePiece tokenizer trained on the set's
// text and the conversation template. Each split has its own stream derived from the seed, so
// a set made with another seed shares no scene with this one.
#pragma once
#include <cstdint>
#include <string>

namespace adallava::synth {

struct DatasetOptions {
  std::string out;
  int train = 10000;       // records in train.json; val and test get a tenth each (at least 100)
  int val = -1, test = -1;  // explicit sizes (−1: as above)
  uint64_t seed = 0;
  int image_size = 96;
  int vocab = 512;  // tokenizer vocabulary (byte fallback included)
  int turns = 1;    // questions per training image (a multi-turn conversation); val and test ask one
  int min_objects = 2, max_objects = 5;  // objects per scene
  // Training conversations end with the image's caption (the pretrain.json turn); the same
  // conversations without it go to train-questions.json (for AdaLLaVA training).
  bool caption_last = false;
};

struct DatasetSummary {
  int train = 0, val = 0, test = 0;
};

DatasetSummary write_dataset(const DatasetOptions& o);

}  // namespace adallava::synth
