#include "cohort_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "html_page.h"
#include "medpipe/core/percentile.h"

namespace medpipe::report {
namespace {

constexpr double kWidth = 640, kLeft = 40, kRight = 600;  // plot area in SVG units
constexpr const char* kOutlierColour = "#c0392b";

std::string Number(double value, const char* format = "%.3g") {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

struct Point {
  std::string study;
  double value;
};

// A label's volumes across the batch, and its normal range when the results give one.
struct Series {
  std::string model, label;
  std::vector<Point> points;
  std::optional<std::array<double, 2>> normal;  // [low, high] mL
};

struct Histogram {
  std::string model, class_name;
  std::optional<double> threshold;
  std::vector<Point> points;
};

double Scale(double value, double low, double high) {
  return high > low ? kLeft + (value - low) / (high - low) * (kRight - kLeft) : (kLeft + kRight) / 2;
}

std::string Axis(double low, double high, double y, const char* unit) {
  std::string svg = "<line x1=\"" + Number(kLeft) + "\" x2=\"" + Number(kRight) + "\" y1=\"" + Number(y) + "\" y2=\"" +
                    Number(y) + "\" class=\"axis\"/>";
  for (int i = 0; i <= 4; ++i) {
    const double value = low + (high - low) * i / 4, x = Scale(value, low, high);
    svg += "<line x1=\"" + Number(x, "%.1f") + "\" x2=\"" + Number(x, "%.1f") + "\" y1=\"" + Number(y) + "\" y2=\"" +
           Number(y + 4) + "\" class=\"axis\"/><text x=\"" + Number(x, "%.1f") + "\" y=\"" + Number(y + 16) +
           "\" text-anchor=\"middle\">" + Number(value) + unit + "</text>";
  }
  return svg;
}

std::string Rect(double x0, double x1, double y0, double y1, const std::string& cls) {
  return "<rect x=\"" + Number(std::min(x0, x1), "%.1f") + "\" y=\"" + Number(y0, "%.1f") + "\" width=\"" +
         Number(std::fabs(x1 - x0), "%.1f") + "\" height=\"" + Number(y1 - y0, "%.1f") + "\" class=\"" + cls + "\"/>";
}

std::string VLine(double x, double y0, double y1, const std::string& cls) {
  return "<line x1=\"" + Number(x, "%.1f") + "\" x2=\"" + Number(x, "%.1f") + "\" y1=\"" + Number(y0, "%.1f") +
         "\" y2=\"" + Number(y1, "%.1f") + "\" class=\"" + cls + "\"/>";
}

std::string StudyPage(const std::string& study) { return UrlPath("report/" + study + ".html"); }

std::string VolumePlot(const Series& series, std::map<std::string, std::vector<std::string>>& outliers) {
  std::vector<double> values;
  for (const auto& point : series.points) values.push_back(point.value);
  const double median = Percentile(values, 50), q1 = Percentile(values, 25), q3 = Percentile(values, 75);
  const bool fenced = series.points.size() >= kMinStudiesForFences;
  const double low_fence = q1 - 1.5 * (q3 - q1), high_fence = q3 + 1.5 * (q3 - q1);
  const auto [min_point, max_point] = std::minmax_element(values.begin(), values.end());
  double low = *min_point, high = *max_point;
  if (series.normal) low = std::min(low, (*series.normal)[0]), high = std::max(high, (*series.normal)[1]);
  const double pad = high > low ? (high - low) * 0.05 : std::max(1.0, std::fabs(high) * 0.1);
  low = std::max(0.0, low - pad), high += pad;

  const auto outside = [&](double value) {
    std::string why;
    if (fenced && (value < low_fence || value > high_fence))
      why = "outside the batch's 1.5 IQR fences (" + Number(low_fence) + " to " + Number(high_fence) + " mL)";
    if (series.normal && (value < (*series.normal)[0] || value > (*series.normal)[1]))
      why += std::string(why.empty() ? "" : ", ") + "outside the normal range (" + Number((*series.normal)[0]) + " to " +
             Number((*series.normal)[1]) + " mL)";
    return why;
  };
  const double top = 10, bottom = 70, middle = (top + bottom) / 2;
  std::string svg = "<svg class=\"cohort\" viewBox=\"0 0 " + Number(kWidth) + " 100\" width=\"" + Number(kWidth) +
                    "\" height=\"100\" role=\"img\" aria-label=\"" + Escape(series.model + " " + series.label) + " volumes\">";
  if (series.normal) svg += Rect(Scale((*series.normal)[0], low, high), Scale((*series.normal)[1], low, high), top - 6, bottom + 6, "normal");
  if (fenced) {
    const double whisker_low = std::max(low_fence, *min_point), whisker_high = std::min(high_fence, *max_point);
    svg += "<line x1=\"" + Number(Scale(whisker_low, low, high), "%.1f") + "\" x2=\"" + Number(Scale(whisker_high, low, high), "%.1f") +
           "\" y1=\"" + Number(middle) + "\" y2=\"" + Number(middle) + "\" class=\"whisker\"/>" +
           Rect(Scale(q1, low, high), Scale(q3, low, high), top + 10, bottom - 10, "box") +
           VLine(Scale(low_fence, low, high), top, bottom, "fence") + VLine(Scale(high_fence, low, high), top, bottom, "fence");
  }
  svg += VLine(Scale(median, low, high), top + 10, bottom - 10, "median");
  size_t outlier_count = 0;
  for (size_t i = 0; i < series.points.size(); ++i) {
    const Point& point = series.points[i];
    const std::string why = outside(point.value);
    const double y = middle + (static_cast<double>(i % 7) - 3) * 4;  // spread so equal values stay visible
    if (!why.empty()) {
      ++outlier_count;
      outliers[point.study].push_back(series.model + " " + series.label + " " + Number(point.value, "%.2f") + " mL " + why);
    }
    svg += "<a href=\"" + StudyPage(point.study) + "\"><circle cx=\"" + Number(Scale(point.value, low, high), "%.1f") +
           "\" cy=\"" + Number(y, "%.1f") + "\" r=\"" + (why.empty() ? "4" : "6") + "\" class=\"" +
           (why.empty() ? "point" : "point outlier") + "\"><title>" + Escape(point.study) + ": " +
           Number(point.value, "%.2f") + " mL" + (why.empty() ? "" : ", " + Escape(why)) + "</title></circle></a>";
  }
  svg += Axis(low, high, bottom + 8, "") + "</svg>";
  std::string caption = "n=" + std::to_string(series.points.size()) + ", median " + Number(median) + " mL";
  if (fenced) caption += ", IQR " + Number(q1) + " to " + Number(q3) + " mL, fences " + Number(low_fence) + " to " + Number(high_fence) + " mL";
  else caption += "; fewer than " + std::to_string(kMinStudiesForFences) + " studies: no IQR fences";
  if (series.normal) caption += ", normal range " + Number((*series.normal)[0]) + " to " + Number((*series.normal)[1]) + " mL";
  caption += "; " + std::to_string(outlier_count) + (outlier_count == 1 ? " outlier" : " outliers");
  return "<figure class=\"cohort-plot\" data-kind=\"volume\" data-outliers=\"" + std::to_string(outlier_count) + "\"><figcaption><b>" +
         Escape(series.model) + " &middot; " + Escape(series.label) + "</b> volume (mL): " + Escape(caption) +
         "</figcaption>" + svg + "</figure>\n";
}

std::string HistogramPlot(const Histogram& histogram) {
  constexpr int kBins = 20;
  int counts[kBins] = {};
  for (const auto& point : histogram.points) ++counts[std::clamp(static_cast<int>(point.value * kBins), 0, kBins - 1)];
  const int tallest = std::max(1, *std::max_element(std::begin(counts), std::end(counts)));
  const double top = 10, bottom = 110;
  std::string svg = "<svg class=\"cohort\" viewBox=\"0 0 " + Number(kWidth) + " 140\" width=\"" + Number(kWidth) +
                    "\" height=\"140\" role=\"img\" aria-label=\"" + Escape(histogram.model) + " probabilities\">";
  size_t positive = 0;
  for (const auto& point : histogram.points) positive += histogram.threshold && point.value >= *histogram.threshold;
  for (int bin = 0; bin < kBins; ++bin) {
    if (!counts[bin]) continue;
    const double x0 = Scale(double(bin) / kBins, 0, 1) + 1, x1 = Scale(double(bin + 1) / kBins, 0, 1) - 1;
    const double height = (bottom - top) * counts[bin] / tallest;
    const bool above = histogram.threshold && (bin + 0.5) / kBins >= *histogram.threshold;
    svg += "<rect x=\"" + Number(x0, "%.1f") + "\" y=\"" + Number(bottom - height, "%.1f") + "\" width=\"" + Number(x1 - x0, "%.1f") +
           "\" height=\"" + Number(height, "%.1f") + "\" class=\"" + (above ? "bar positive" : "bar") + "\"><title>" +
           Number(double(bin) / kBins, "%.2f") + " to " + Number(double(bin + 1) / kBins, "%.2f") + ": " +
           std::to_string(counts[bin]) + "</title></rect><text x=\"" + Number((x0 + x1) / 2, "%.1f") + "\" y=\"" +
           Number(bottom - height - 3, "%.1f") + "\" text-anchor=\"middle\">" + std::to_string(counts[bin]) + "</text>";
  }
  if (histogram.threshold)
    svg += VLine(Scale(*histogram.threshold, 0, 1), top - 6, bottom, "threshold") + "<text x=\"" +
           Number(Scale(*histogram.threshold, 0, 1) + 4, "%.1f") + "\" y=\"" + Number(top + 4) + "\">threshold " +
           Number(*histogram.threshold, "%.4g") + "</text>";
  svg += Axis(0, 1, bottom + 2, "") + "</svg>";
  std::string caption = "n=" + std::to_string(histogram.points.size());
  if (histogram.threshold)
    caption += ", threshold " + Number(*histogram.threshold, "%.4g") + ": " + std::to_string(positive) + " positive, " +
               std::to_string(histogram.points.size() - positive) + " negative";
  else
    caption += ", no threshold: the most probable class decides";
  return "<figure class=\"cohort-plot\" data-kind=\"probability\"><figcaption><b>" + Escape(histogram.model) +
         "</b> probability of " + Escape(histogram.class_name) + ": " + Escape(caption) + "</figcaption>" + svg + "</figure>\n";
}

}  // namespace

CohortPlots DrawCohortPlots(const std::vector<Study>& studies) {
  std::vector<Series> volumes;
  std::vector<Histogram> histograms;
  for (const Study& study : studies) {
    for (const SeriesResult& series : study.result.series) {
      for (const Analysis& analysis : series.analyses) {
        if (analysis.outcome != Outcome::Ok) continue;
        for (const LabelResult& label : analysis.labels) {
          auto it = std::find_if(volumes.begin(), volumes.end(),
                                 [&](const Series& s) { return s.model == analysis.model && s.label == label.name; });
          if (it == volumes.end()) it = volumes.insert(volumes.end(), Series{analysis.model, label.name, {}, std::nullopt});
          it->points.push_back({study.folder, label.volume_ml});
          if (!it->normal) it->normal = label.normal_range_ml;
        }
        if (!analysis.decision) continue;
        auto it = std::find_if(histograms.begin(), histograms.end(), [&](const Histogram& h) {
          return h.model == analysis.model && h.class_name == analysis.decision->class_name;
        });
        if (it == histograms.end())
          it = histograms.insert(histograms.end(), Histogram{analysis.model, analysis.decision->class_name, analysis.decision->threshold, {}});
        it->points.push_back({study.folder, analysis.decision->probability});
      }
    }
  }
  CohortPlots plots;
  for (const Series& series : volumes) plots.html += VolumePlot(series, plots.outliers);
  for (const Histogram& histogram : histograms) plots.html += HistogramPlot(histogram);
  if (!plots.html.empty())
    plots.html = "<details class=\"cohort\" open><summary>Cohort plots: volumes per label, probabilities per classifier "
                 "(outliers in red link to their study)</summary><div class=\"cohort-plots\">" + plots.html + "</div></details>\n";
  return plots;
}

}  // namespace medpipe::report
