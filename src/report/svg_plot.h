// Line charts as SVG files (loss curves, accuracy against executed fraction): plain text any
// browser and the README render, so no plotting or image library is needed.
#pragma once
#include <string>
#include <vector>

namespace adallava {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  bool markers = false;  // draw a dot at every point (sparse data: budgets)
  bool faint = false;    // thin and light (raw values under a smoothed curve)
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
};

// The chart as an SVG document: axes with round ticks, one colour per series, a legend.
std::string render_svg(const PlotSpec& spec);
// Writes it to path (via a temporary file and a rename); throws Error naming the path.
void write_svg(const std::string& path, const PlotSpec& spec);

}  // namespace adallava
