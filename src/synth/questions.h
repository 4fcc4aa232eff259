// Questions about a synthetic scene, of seven kinds, each with a one-word answer:
//   colour    "What colour is the triangle?"                   (the only triangle)
//   shape     "What shape is the blue object?"                 (the only blue object)
//   size      "Is the red circle big or small?"
//   count     "How many green shapes are there?"               (zero .. five)
//   exist     "Is there a purple square?"                      (yes / no, balanced)
//   spatial   "Is the red circle left of the blue square?"     (left of / above; yes / no)
//   combined  "How many red shapes are left of the blue square?"  (two facts: a filter and a relation)
// Spatial relations are only asked where they are unambiguous (centres 8 pixels apart or more
// along that axis, for every object a count includes or excludes).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "synth/scene.h"

namespace adallava::synth {

inline const std::vector<std::string> kQuestionKinds = {"colour", "shape",   "size",    "count",
                                                        "exist",  "spatial", "combined"};

struct QuestionAnswer {
  std::string kind, question, answer;
};

// A question of the given kind about the scene, or none (empty kind) when the scene has no
// unambiguous one of that kind.
QuestionAnswer ask(const Scene& scene, const std::string& kind, Rng& rng);

// A caption, "small red circle, big blue square, ...": every object's size, colour and shape in
// column order (grid columns left to right, each top to bottom). Not one of the question kinds:
// the data of the caption pre-training stage (LLaVA's first stage), a dense signal that teaches
// the tower and projector to see every object.
QuestionAnswer describe(const Scene& scene);

// Every unambiguous look-up question about the scene: "What colour is the SHAPE?" for each shape
// it has once, then "What shape is the COLOUR object?" for each colour it has once, in object
// order. The retrieval curriculum's data: each one needs the object the question names found.
std::vector<QuestionAnswer> lookups(const Scene& scene);

// A question of a kind drawn uniformly, redrawing kinds the scene cannot support.
QuestionAnswer ask_any(const Scene& scene, Rng& rng);

// A data set example: a kind drawn uniformly, then scenes until one supports a question of it
// (so every kind is equally common, whatever its conditions).
std::pair<Scene, QuestionAnswer> sample_example(Rng& rng, int image_size, int min_objects = 2,
                                                int max_objects = 5);

}  // namespace adallava::synth
