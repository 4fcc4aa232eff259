// Synthetic scenes for the visual question-answering set of `adallava synth`: a few coloured
// shapes of two sizes on a noisy background with grey clutter (thin lines and dots that are
// not shapes). Every (colour, shape) pair appears at most once, so "the red circle" always
// names one object. Everything is drawn from one seeded generator, the same on every platform.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "vision/image.h"

namespace adallava::synth {

inline const std::vector<std::string> kColours = {"red", "green", "blue", "yellow", "purple"};
inline const std::vector<std::string> kShapes = {"circle", "square", "triangle"};

struct Object {
  int colour = 0, shape = 0;
  bool large = false;
  double x = 0, y = 0;  // centre, pixels
  double scale = 1;     // image side / 96: shapes keep their share of the frame
  double radius() const { return (large ? 10.5 : 6.5) * scale; }
  std::string name() const { return kColours[size_t(colour)] + " " + kShapes[size_t(shape)]; }
};

struct Scene {
  int size = 96;  // square, pixels
  std::vector<Object> objects;
  uint64_t style_seed = 0;  // background noise and clutter
};

// A seeded generator with platform-independent helpers (the std distributions are not).
struct Rng {
  std::mt19937_64 engine;
  explicit Rng(uint64_t seed) : engine(seed) {}
  uint64_t next() { return engine(); }
  int below(int n) { return int(engine() % uint64_t(n)); }              // [0, n)
  double uniform() { return double(engine() >> 11) / 9007199254740992.0; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
};

// Objects are placed at the centres of the cells of a kGrid × kGrid grid (one object a cell).
inline constexpr int kGrid = 4;

// min_objects to max_objects objects in distinct grid cells, inside the frame.
Scene sample_scene(Rng& rng, int size, int min_objects = 2, int max_objects = 5);
RgbImage render(const Scene& scene);

}  // namespace adallava::synth
