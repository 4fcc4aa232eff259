#include "synth/questions.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/error.h"

namespace adallava::synth {

namespace {

constexpr double kClear = 8;  // pixels (at 96 px) between centres for a relation to be unambiguous
const char* kNumbers[] = {"zero", "one", "two", "three", "four", "five", "six"};

// One relation per axis. "A right of B" is "B left of A", so nothing goes unaskable; but with the
// mirrored words in the set too, a relation's answer is the word times the two positions, with no
// part of it that any one of them predicts alone, and the small decoder trained from scratch
// never got off chance on it (see the README).
enum Relation { Left, Above };
const char* const kRelationWords[] = {"left of", "above"};
constexpr int kRelations = int(std::size(kRelationWords));

// +1: a is in relation to b; −1: clearly not; 0: too close to tell.
int relation(const Object& a, const Object& b, Relation r) {
  const double d = r == Left ? b.x - a.x : b.y - a.y;
  const double clear = kClear * a.scale;
  return d >= clear ? 1 : d <= -clear ? -1 : 0;
}

const Object& pick(const Scene& s, Rng& rng) { return s.objects[size_t(rng.below(int(s.objects.size())))]; }

// "What colour is the SHAPE?" about o, or none when o's shape is not unique in the scene.
QuestionAnswer colour_of(const Scene& s, const Object& o) {
  if (std::count_if(s.objects.begin(), s.objects.end(), [&](const Object& p) { return p.shape == o.shape; }) != 1)
    return {};
  return {"colour", "What colour is the " + kShapes[size_t(o.shape)] + "?", kColours[size_t(o.colour)]};
}

// "What shape is the COLOUR object?" about o, or none when o's colour is not unique.
QuestionAnswer shape_of(const Scene& s, const Object& o) {
  if (std::count_if(s.objects.begin(), s.objects.end(), [&](const Object& p) { return p.colour == o.colour; }) != 1)
    return {};
  return {"shape", "What shape is the " + kColours[size_t(o.colour)] + " object?", kShapes[size_t(o.shape)]};
}

}  // namespace

QuestionAnswer ask(const Scene& s, const std::string& kind, Rng& rng) {
  const auto& obj = s.objects;
  auto count_if = [&](auto pred) {
    int n = 0;
    for (const Object& o : obj) n += pred(o) ? 1 : 0;
    return n;
  };
  if (kind == "colour") return colour_of(s, pick(s, rng));
  if (kind == "shape") return shape_of(s, pick(s, rng));
  if (kind == "size") {
    const Object& o = pick(s, rng);
    return {kind, "Is the " + o.name() + " big or small?", o.large ? "big" : "small"};
  }
  if (kind == "count") {
    switch (rng.below(3)) {
      case 0: return {kind, "How many shapes are there?", kNumbers[obj.size()]};
      case 1: {  // mostly a colour the scene has, so that "zero" does not dominate
        const int c = rng.below(4) ? pick(s, rng).colour : rng.below(int(kColours.size()));
        return {kind, "How many " + kColours[size_t(c)] + " shapes are there?",
                kNumbers[count_if([&](const Object& p) { return p.colour == c; })]};
      }
      default: {
        const int sh = rng.below(4) ? pick(s, rng).shape : rng.below(int(kShapes.size()));
        return {kind, "How many " + kShapes[size_t(sh)] + "s are there?",
                kNumbers[count_if([&](const Object& p) { return p.shape == sh; })]};
      }
    }
  }
  if (kind == "exist") {
    Object q;
    if (rng.below(2)) {
      q = pick(s, rng);
    } else {  // a pair the scene lacks
      do {
        q.colour = rng.below(int(kColours.size()));
        q.shape = rng.below(int(kShapes.size()));
      } while (count_if([&](const Object& p) { return p.colour == q.colour && p.shape == q.shape; }) > 0);
    }
    const bool present = count_if([&](const Object& p) { return p.colour == q.colour && p.shape == q.shape; }) > 0;
    return {kind, "Is there a " + q.name() + "?", present ? "yes" : "no"};
  }
  if (kind == "spatial") {
    const Object &a = pick(s, rng), &b = pick(s, rng);
    const Relation r = Relation(rng.below(kRelations));
    const int rel = &a == &b ? 0 : relation(a, b, r);
    if (rel == 0) return {};
    return {kind, "Is the " + a.name() + " " + kRelationWords[r] + " the " + b.name() + "?", rel > 0 ? "yes" : "no"};
  }
  if (kind == "combined") {
    const Object& b = pick(s, rng);
    const Relation r = Relation(rng.below(kRelations));
    const bool by_colour = rng.below(2) == 1;
    // Mostly filter by the colour or shape of an object that is in the relation, so that the
    // answers are not mostly "zero".
    std::vector<const Object*> related;
    for (const Object& o : obj)
      if (&o != &b && relation(o, b, r) > 0) related.push_back(&o);
    int filter;
    if (!related.empty() && rng.below(4)) {
      const Object& o = *related[size_t(rng.below(int(related.size())))];
      filter = by_colour ? o.colour : o.shape;
    } else {
      filter = by_colour ? rng.below(int(kColours.size())) : rng.below(int(kShapes.size()));
    }
    int n = 0;
    for (const Object& o : obj) {
      if (&o == &b || (by_colour ? o.colour : o.shape) != filter) continue;
      const int rel = relation(o, b, r);
      if (rel == 0) return {};  // an object the count would be unsure of
      n += rel > 0;
    }
    const std::string what = by_colour ? kColours[size_t(filter)] + " shapes" : kShapes[size_t(filter)] + "s";
    return {kind, "How many " + what + " are " + kRelationWords[r] + " the " + b.name() + "?", kNumbers[n]};
  }
  throw Error("unknown question kind '" + kind + "'");
}

QuestionAnswer describe(const Scene& s) {
  std::vector<const Object*> order;
  for (const Object& o : s.objects) order.push_back(&o);
  const double cell = double(s.size) / kGrid;
  // Column by column: with the image's patches in reading order, a caption in reading order can be
  // written from the tokens' own order (rotary positions), and the columns were never learnt.
  auto by_column = [&](const Object* o) { return int(o->x / cell) * kGrid + int(o->y / cell); };
  std::sort(order.begin(), order.end(), [&](const Object* a, const Object* b) { return by_column(a) < by_column(b); });
  std::string answer;
  for (const Object* o : order) answer += (answer.empty() ? "" : ", ") + std::string(o->large ? "big " : "small ") + o->name();
  return {"caption", "Describe the shapes.", answer};
}

std::vector<QuestionAnswer> lookups(const Scene& s) {
  std::vector<QuestionAnswer> out;
  for (auto question : {colour_of, shape_of})
    for (const Object& o : s.objects)
      if (QuestionAnswer qa = question(s, o); !qa.kind.empty()) out.push_back(std::move(qa));
  return out;
}

QuestionAnswer ask_any(const Scene& s, Rng& rng) {
  for (;;) {
    QuestionAnswer qa = ask(s, kQuestionKinds[size_t(rng.below(int(kQuestionKinds.size())))], rng);
    if (!qa.kind.empty()) return qa;
  }
}

std::pair<Scene, QuestionAnswer> sample_example(Rng& rng, int image_size, int min_objects, int max_objects) {
  const std::string& kind = kQuestionKinds[size_t(rng.below(int(kQuestionKinds.size())))];
  for (;;) {
    Scene scene = sample_scene(rng, image_size, min_objects, max_objects);
    for (int attempt = 0; attempt < 8; ++attempt) {
      QuestionAnswer qa = ask(scene, kind, rng);
      if (!qa.kind.empty()) return {std::move(scene), std::move(qa)};
    }
  }
}

}  // namespace adallava::synth
