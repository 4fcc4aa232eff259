#include "synth/scene.h"

#include <algorithm>
#include <cmath>

namespace adallava::synth {

namespace {

// Largest offset of an object from its cell's centre, in pixels at 96 px. Zero: a tower trained
// from scratch with 24-px patches then sees each (shape, colour, size) as one fixed template in
// its patch and tells shapes apart within minutes; with 2 px of jitter small circles, squares and
// triangles were still confused after 3,000 caption steps (59% right), and every question that
// names a shape failed with them. Positions still vary over the 16 cells.
constexpr double kJitter = 0;
const uint8_t kRgb[][3] = {{215, 40, 40}, {40, 165, 60}, {45, 85, 215}, {225, 195, 35}, {145, 60, 185}};

// Width of the dark outline of every shape, pixels at 96 px. The outline carries the shape in
// the same dark pixels whatever the colour: filled shapes alone left shape as a small,
// colour-dependent difference in the patch that a tower and decoder trained from scratch kept
// ignoring (caption loss flat at the shape word's ln 3 for 1,000 steps while colour and size were
// read; 1.9 of 28.5 feature rms was shape).
constexpr double kOutline = 1.5;
const uint8_t kOutlineRgb = 30;

// Whether pixel centre (px, py) is inside the object drawn at radius r (triangles point up,
// squares axis-aligned).
bool inside(const Object& o, double px, double py, double r) {
  const double dx = px - o.x, dy = py - o.y;
  switch (o.shape) {
    case 0: return dx * dx + dy * dy <= r * r;
    case 1: return std::abs(dx) <= r * 0.85 && std::abs(dy) <= r * 0.85;
    default: {  // apex at (0, −r), base at y = +0.8r spanning ±r
      const double t = (dy + r) / (1.8 * r);
      return t >= 0 && t <= 1 && std::abs(dx) <= t * r;
    }
  }
}

uint8_t clamp_u8(double v) { return uint8_t(std::clamp(v, 0.0, 255.0)); }

}  // namespace

Scene sample_scene(Rng& rng, int size, int min_objects, int max_objects) {
  Scene s;
  s.size = size;
  s.style_seed = rng.next();
  const int n = min_objects + rng.below(max_objects - min_objects + 1);
  // Objects sit in distinct cells of a kGrid × kGrid grid: a tower whose
  // patches match the cells sees each object in one patch (so a tiny model learns in minutes),
  // and objects never overlap.
  const double cell = double(size) / kGrid;
  std::vector<int> cells(kGrid * kGrid);
  for (int i = 0; i < kGrid * kGrid; ++i) cells[size_t(i)] = i;
  for (int i = 0; i < n; ++i) {  // the first n of a seeded shuffle
    std::swap(cells[size_t(i)], cells[size_t(i + rng.below(kGrid * kGrid - i))]);
    Object o;
    o.scale = size / 96.0;
    do {  // every (colour, shape) at most once
      o.colour = rng.below(int(kColours.size()));
      o.shape = rng.below(int(kShapes.size()));
    } while (std::any_of(s.objects.begin(), s.objects.end(),
                         [&](const Object& p) { return p.colour == o.colour && p.shape == o.shape; }));
    o.large = rng.below(2) == 1;
    // Jitter of at most kJitter (at 96 px) that keeps it in its cell.
    const double slack = std::clamp(cell / 2 - o.radius() - 0.5, 0.0, kJitter * o.scale);
    o.x = (cells[size_t(i)] % kGrid + 0.5) * cell + rng.uniform(-slack, slack);
    o.y = (cells[size_t(i)] / kGrid + 0.5) * cell + rng.uniform(-slack, slack);
    s.objects.push_back(o);
  }
  return s;
}

RgbImage render(const Scene& s) {
  Rng rng(s.style_seed);
  RgbImage img;
  img.width = img.height = s.size;
  img.pixels.resize(size_t(s.size) * size_t(s.size) * 3);
  // Background: light grey with per-pixel noise. (A random tint per image was tried: it moves
  // every patch of the image together, and drowned the one patch that holds a small object in
  // the early average-attention phase of a tower and decoder trained from scratch.)
  const double base[3] = {220, 220, 220};
  for (int y = 0; y < s.size; ++y)
    for (int x = 0; x < s.size; ++x) {
      const double noise = rng.uniform(-8, 8);
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = clamp_u8(base[c] + noise);
    }
  // Clutter: thin grey segments and dots.
  const int n_clutter = 3 + rng.below(5);
  for (int i = 0; i < n_clutter; ++i) {
    const double grey = rng.uniform(90, 170);
    const double x0 = rng.uniform(0, s.size), y0 = rng.uniform(0, s.size);
    if (rng.below(2)) {  // a segment of 6 to 20 pixels
      const double len = rng.uniform(6, 20), angle = rng.uniform(0, 6.283185307179586);
      for (double t = 0; t <= len; t += 0.5) {
        const int x = int(x0 + t * std::cos(angle)), y = int(y0 + t * std::sin(angle));
        if (x >= 0 && y >= 0 && x < s.size && y < s.size)
          for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = clamp_u8(grey);
      }
    } else {  // a dot of radius 1 to 2
      const double r = rng.uniform(1, 2.2);
      for (int y = int(y0 - r); y <= int(y0 + r); ++y)
        for (int x = int(x0 - r); x <= int(x0 + r); ++x)
          if (x >= 0 && y >= 0 && x < s.size && y < s.size && std::hypot(x - x0, y - y0) <= r)
            for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = clamp_u8(grey);
    }
  }
  // Objects, outlined, with a little shading noise so colours are not one exact value.
  for (const Object& o : s.objects) {
    const int lo_x = std::max(0, int(o.x - o.radius()) - 1), hi_x = std::min(s.size - 1, int(o.x + o.radius()) + 1);
    const int lo_y = std::max(0, int(o.y - o.radius()) - 1), hi_y = std::min(s.size - 1, int(o.y + o.radius()) + 1);
    for (int y = lo_y; y <= hi_y; ++y)
      for (int x = lo_x; x <= hi_x; ++x)
        if (inside(o, x + 0.5, y + 0.5, o.radius())) {
          const double shade = rng.uniform(-12, 12);
          const bool edge = !inside(o, x + 0.5, y + 0.5, o.radius() - kOutline * o.scale);
          for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = clamp_u8((edge ? kOutlineRgb : kRgb[o.colour][c]) + shade);
        }
  }
  return img;
}

}  // namespace adallava::synth
