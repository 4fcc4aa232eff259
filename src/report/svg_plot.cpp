#include "report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "io/atomic_write.h"
#include "tensor/error.h"

namespace adallava {

namespace {

constexpr double kWidth = 720, kHeight = 440, kLeft = 70, kRight = 170, kTop = 40, kBottom = 55;
const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", std::abs(v) < 1e-12 ? 0.0 : v);
  return b;
}

// A step of 1, 2 or 5 × 10^k giving about `target` intervals over [lo, hi].
double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / target, p = std::pow(10.0, std::floor(std::log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  void fit(double mn, double mx) {
    if (!(mx > mn)) mn -= 0.5, mx += 0.5;  // one value (or none): a unit span around it
    step = nice_step(mn, mx, 5);
    lo = std::floor(mn / step) * step;
    hi = std::ceil(mx / step) * step;
  }
};

}  // namespace

std::string render_svg(const PlotSpec& spec) {
  double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
  for (const PlotSeries& s : spec.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmn = std::min(xmn, s.x[i]), xmx = std::max(xmx, s.x[i]);
      ymn = std::min(ymn, s.y[i]), ymx = std::max(ymx, s.y[i]);
    }
  if (!std::isfinite(xmn)) xmn = xmx = ymn = ymx = 0;
  Axis ax, ay;
  ax.fit(xmn, xmx);
  ay.fit(ymn, ymx);
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto X = [&](double x) { return kLeft + (x - ax.lo) / (ax.hi - ax.lo) * pw; };
  auto Y = [&](double y) { return kTop + ph - (y - ay.lo) / (ay.hi - ay.lo) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << kLeft + pw / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << escape(spec.title)
    << "</text>\n";
  for (double v = ax.lo; v <= ax.hi + ax.step / 2; v += ax.step) {
    o << "<line x1=\"" << num(X(v)) << "\" y1=\"" << kTop << "\" x2=\"" << num(X(v)) << "\" y2=\"" << kTop + ph
      << "\" stroke=\"#e0e0e0\"/>\n";
    o << "<text x=\"" << num(X(v)) << "\" y=\"" << kTop + ph + 16 << "\" text-anchor=\"middle\">" << num(v)
      << "</text>\n";
  }
  for (double v = ay.lo; v <= ay.hi + ay.step / 2; v += ay.step) {
    o << "<line x1=\"" << kLeft << "\" y1=\"" << num(Y(v)) << "\" x2=\"" << kLeft + pw << "\" y2=\"" << num(Y(v))
      << "\" stroke=\"#e0e0e0\"/>\n";
    o << "<text x=\"" << kLeft - 6 << "\" y=\"" << num(Y(v) + 4) << "\" text-anchor=\"end\">" << num(v) << "</text>\n";
  }
  o << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  o << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kHeight - 14 << "\" text-anchor=\"middle\">"
    << escape(spec.x_label) << "</text>\n";
  o << "<text transform=\"translate(18," << kTop + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(spec.y_label) << "</text>\n";
  int legend = 0;
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const PlotSeries& s = spec.series[k];
    const std::string colour = kColours[k % (sizeof kColours / sizeof *kColours)];
    std::ostringstream pts;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts << num(X(s.x[i])) << ',' << num(Y(s.y[i])) << ' ';
    o << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"" << (s.faint ? "1" : "2")
      << "\" stroke-opacity=\"" << (s.faint ? "0.35" : "1") << "\" points=\"" << pts.str() << "\"/>\n";
    if (s.markers)
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
          o << "<circle cx=\"" << num(X(s.x[i])) << "\" cy=\"" << num(Y(s.y[i])) << "\" r=\"3.5\" fill=\"" << colour
            << "\"/>\n";
    if (s.name.empty()) continue;
    const double ly = kTop + 10 + 20 * legend++;
    o << "<line x1=\"" << kLeft + pw + 12 << "\" y1=\"" << ly << "\" x2=\"" << kLeft + pw + 36 << "\" y2=\"" << ly
      << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/>\n";
    o << "<text x=\"" << kLeft + pw + 42 << "\" y=\"" << ly + 4 << "\">" << escape(s.name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

void write_svg(const std::string& path, const PlotSpec& spec) {
  write_file_atomically(path, render_svg(spec));
}

}  // namespace adallava
