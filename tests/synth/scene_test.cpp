// Synthetic scenes and their questions: scenes obey their rules, rendering paints each object
// in its colour at its place, the answers are right on hand-made scenes, and everything is
// reproducible from the seed.
#include "synth/scene.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "synth/questions.h"

namespace adallava::synth {
namespace {

Object make(int colour, int shape, bool large, double x, double y) {
  Object o;
  o.colour = colour, o.shape = shape, o.large = large, o.x = x, o.y = y;
  return o;
}

TEST(SynthScene, ScenesKeepTheirRules) {
  Rng rng(3);
  for (int i = 0; i < 300; ++i) {
    const Scene s = sample_scene(rng, 96);
    ASSERT_GE(s.objects.size(), 2u);
    ASSERT_LE(s.objects.size(), 5u);
    std::set<std::pair<int, int>> pairs;
    std::set<int> cells;
    for (size_t a = 0; a < s.objects.size(); ++a) {
      const Object& o = s.objects[a];
      EXPECT_TRUE(pairs.insert({o.colour, o.shape}).second) << "a (colour, shape) pair appears twice";
      // Inside its own grid cell: in the frame, never overlapping, one object a patch when
      // the tower's patches match the cells.
      const double cell = 96.0 / kGrid;
      const int cx = int(o.x / cell), cy = int(o.y / cell);
      EXPECT_GE(o.x - o.radius(), cx * cell);
      EXPECT_LE(o.x + o.radius(), (cx + 1) * cell);
      EXPECT_GE(o.y - o.radius(), cy * cell);
      EXPECT_LE(o.y + o.radius(), (cy + 1) * cell);
      EXPECT_TRUE(cells.insert(cy * kGrid + cx).second) << "two objects in one cell";
    }
  }
}

TEST(SynthScene, ObjectCountsSpanTheAskedRange) {
  Rng rng(5);
  std::set<size_t> counts;
  for (int i = 0; i < 200; ++i) counts.insert(sample_scene(rng, 96, 1, 3).objects.size());
  EXPECT_EQ(counts, (std::set<size_t>{1, 2, 3}));
}

TEST(SynthScene, RenderPaintsEachObjectInItsColour) {
  Scene s;
  s.size = 64;
  s.objects = {make(0, 1, true, 16, 16), make(2, 0, true, 46, 46)};  // red square, blue circle
  const RgbImage img = render(s);
  ASSERT_EQ(img.width, 64);
  const uint8_t* red = img.row(16) + 16 * 3;
  const uint8_t* blue = img.row(46) + 46 * 3;
  EXPECT_GT(red[0], 180);
  EXPECT_LT(red[2], 80);
  EXPECT_GT(blue[2], 180);
  EXPECT_LT(blue[0], 80);
  // A dark outline at the shape's edge (the square's half side is 0.85 × 10.5 = 8.9 px, the
  // outline 1.5 px: pixel centre 24.5 is 8.5 px from the centre), the fill inside it.
  const uint8_t* edge = img.row(16) + 24 * 3;
  const uint8_t* fill = img.row(16) + 22 * 3;
  EXPECT_GT(fill[0], 180);
  for (int c = 0; c < 3; ++c) EXPECT_LT(edge[c], 60) << c;
  EXPECT_EQ(render(s).pixels, img.pixels);  // the style seed fixes noise and clutter
}

TEST(SynthQuestions, CaptionListsEveryObjectColumnByColumn) {
  Scene s;
  s.size = 96;  // cells of 24 px: (row 1, col 2), (row 0, col 3), (row 1, col 0)
  s.objects = {make(2, 0, true, 60, 36), make(0, 1, false, 84, 12), make(3, 2, false, 12, 36)};
  const QuestionAnswer c = describe(s);
  EXPECT_EQ(c.kind, "caption");
  EXPECT_EQ(c.answer, "small yellow triangle, big blue circle, small red square");
}

TEST(SynthQuestions, LookupsAskEveryUnambiguousColourAndShape) {
  Scene s;  // red circle, blue circle, blue square: only the square's shape and red are unique
  s.objects = {make(0, 0, true, 12, 12), make(2, 0, false, 36, 12), make(2, 1, true, 60, 12)};
  const std::vector<QuestionAnswer> l = lookups(s);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].question, "What colour is the square?");
  EXPECT_EQ(l[0].answer, "blue");
  EXPECT_EQ(l[1].question, "What shape is the red object?");
  EXPECT_EQ(l[1].answer, "circle");
  EXPECT_EQ(l[0].kind, "colour");
  EXPECT_EQ(l[1].kind, "shape");
}

TEST(SynthQuestions, AnswersAreRightOnAHandMadeScene) {
  Scene s;
  // red circle (left, top, big), blue square (right, top, small), red triangle (right, bottom, small)
  s.objects = {make(0, 0, true, 15, 15), make(2, 1, false, 70, 15), make(0, 2, false, 70, 70)};
  const std::map<std::string, std::string> expected = {
      {"Is the red circle left of the blue square?", "yes"},
      {"Is the blue square left of the red circle?", "no"},
      {"Is the blue square above the red triangle?", "yes"},
      {"How many red shapes are there?", "two"},
      {"How many shapes are there?", "three"},
      {"How many squares are there?", "one"},
      {"What shape is the blue object?", "square"},
      {"What colour is the triangle?", "red"},
      {"Is the red circle big or small?", "big"},
      {"Is there a green circle?", "no"},
      {"Is there a blue square?", "yes"},
      {"How many circles are above the red triangle?", "one"},
      {"How many circles are left of the blue square?", "one"},
  };
  Rng rng(1);
  int checked = 0;
  for (int i = 0; i < 2000; ++i) {
    const QuestionAnswer qa = ask_any(s, rng);
    auto it = expected.find(qa.question);
    if (it != expected.end()) {
      EXPECT_EQ(qa.answer, it->second) << qa.question;
      ++checked;
    }
    // The red triangle is level with the blue square, so "left of" it is never asked about red
    // shapes, and "red" names two objects. Relations are asked one way per axis.
    EXPECT_NE(qa.question, "How many red shapes are left of the blue square?");
    EXPECT_EQ(qa.question.find("right of"), std::string::npos) << qa.question;
    EXPECT_EQ(qa.question.find("below"), std::string::npos) << qa.question;
    EXPECT_NE(qa.question.find("What shape is the red"), 0u);
  }
  EXPECT_GT(checked, 200);
}

TEST(SynthQuestions, KindsAreBalancedAndReproducible) {
  Rng a(9), b(9);
  std::map<std::string, int> kinds;
  for (int i = 0; i < 1400; ++i) {
    const auto [sa, qa] = sample_example(a, 96);
    const auto [sb, qb] = sample_example(b, 96);
    EXPECT_EQ(qa.question, qb.question);
    EXPECT_EQ(qa.answer, qb.answer);
    ++kinds[qa.kind];
  }
  EXPECT_EQ(kinds.size(), kQuestionKinds.size());
  for (const auto& [k, n] : kinds) EXPECT_NEAR(n, 200, 60) << k;
}

}  // namespace
}  // namespace adallava::synth
