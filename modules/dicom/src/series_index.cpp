#include "medpipe/dicom/series_index.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <tuple>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "dicom_text.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/problem_code.h"

namespace medpipe::dicom {
namespace {

const std::set<std::string> kProjectionModalities = {"CR", "DX", "MG", "RG", "IO", "PX", "XA", "RF", "DR"};

std::string Rounded(double value, int decimals) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << (std::abs(value) < 1e-9 ? 0.0 : value);
  return out.str();
}

SeriesKind Classify(const FileHeader& header) {
  if (!header.has_pixel_data) return SeriesKind::NonImage;
  const bool has_geometry = header.frames.front().position && header.frames.front().orientation;
  // Screenshots lack patient geometry; research tools also save real volumes as secondary capture.
  const bool secondary_capture = header.sop_class_uid.rfind("1.2.840.10008.5.1.4.1.1.7", 0) == 0;
  if (secondary_capture && !has_geometry) return SeriesKind::SecondaryCapture;
  const std::string image_type = Lower(header.image_type);
  const std::string description = Lower(header.series_description);
  if (image_type.find("localizer") != std::string::npos) return SeriesKind::Localizer;
  for (const char* word : {"localizer", "localiser", "scout", "topogram", "survey"}) {
    if (description.find(word) != std::string::npos) return SeriesKind::Localizer;
  }
  if (kProjectionModalities.count(header.modality)) return SeriesKind::Projection;
  if (!has_geometry && header.pixels.number_of_frames == 1) return SeriesKind::Projection;
  return SeriesKind::Volume;
}

// Attributes that must agree for frames to share one volume; a difference splits the series.
std::string SplitKey(const FileHeader& header, const FrameInfo& frame) {
  std::ostringstream key;
  key << "n" << header.series_number << "|" << header.pixels.rows << "x" << header.pixels.columns << "x" << header.pixels.samples_per_pixel;
  if (frame.orientation) {
    key << "|o";
    for (double v : *frame.orientation) key << ":" << Rounded(v, 4);
  }
  if (frame.pixel_spacing) key << "|s" << Rounded((*frame.pixel_spacing)[0], 4) << ":" << Rounded((*frame.pixel_spacing)[1], 4);
  key << "|e" << header.echo_number << ":" << (header.echo_time ? Rounded(*header.echo_time, 3) : "");
  if (!frame.component.empty()) key << "|c" << frame.component;
  // Values 1 and 2 (ORIGINAL/DERIVED, PRIMARY/SECONDARY) separate images; vendors vary the rest per slice.
  const auto second = header.image_type.find('\\', header.image_type.find('\\') + 1);
  key << "|t" << header.image_type.substr(0, second);
  return key.str();
}

// Records CODE (from the one table, core/problem_code.h) with TEXT; a problem whose effect is not
// "handled", or that the configuration makes refusing (a tilt with --refuse-gantry-tilt), refuses the
// series, the first such one being the reason.
void AddProblem(Series& series, ProblemCode code, const std::string& text, bool refused_by_configuration = false) {
  series.problems.push_back(ProblemText(code, text));
  const bool refuses = InfoOf(code).effect != ProblemEffect::Handled || refused_by_configuration;
  if (refuses && series.refusal.empty()) series.refusal = series.problems.back();
}

std::vector<Vec3> SlicePositions(const Series& series) {
  std::vector<Vec3> positions;
  for (const auto& slice : series.slices) positions.push_back(*series.files[slice.file].frames[slice.frame].position);
  return positions;
}

void OrderVolume(Series& series, const IndexOptions& options) {
  for (const auto& slice : series.slices) {
    const FrameInfo& frame = series.files[slice.file].frames[slice.frame];
    if (!frame.position || !frame.orientation) {
      AddProblem(series, ProblemCode::NotAVolume,
                 "frame " + std::to_string(slice.frame) + " of " + series.files[slice.file].path +
                     " lacks (0020,0032) ImagePositionPatient or (0020,0037) ImageOrientationPatient");
      return;
    }
  }
  const auto& first = series.files[series.slices.front().file].frames[series.slices.front().frame];
  series.stack = AnalyzeSlices(SlicePositions(series), *first.orientation);
  std::vector<SliceRef> ordered;
  for (size_t index : series.stack.order) ordered.push_back(series.slices[index]);
  series.slices = std::move(ordered);
  for (auto& volume : series.later_volumes) {
    std::vector<SliceRef> in_order;
    for (size_t index : series.stack.order) in_order.push_back(volume[index]);
    volume = std::move(in_order);
  }

  const SliceStack& stack = series.stack;
  if (stack.coincident) {
    AddProblem(series, ProblemCode::NotAVolume, "several slices share one position along the normal");
    return;
  }
  if (stack.missing_slices > 0) {
    AddProblem(series, ProblemCode::MissingSlices,
               std::to_string(stack.missing_slices) + " slice(s) missing from a stack spaced " +
                   Rounded(stack.spacing, 3) + " mm");
  }
  if (stack.uneven) {
    AddProblem(series, ProblemCode::UnevenSliceSpacing, "slice gaps vary; resampled to equal spacing");
  }
  if (stack.tilt_deg > 0) {
    AddProblem(series, ProblemCode::GantryTilt,
               "slices are tilted " + Rounded(stack.tilt_deg, 2) + " degrees" +
                   (options.refuse_gantry_tilt ? "; refused by configuration" : "; resampled onto an orthogonal grid"),
               options.refuse_gantry_tilt);
  }
}

// What LoadSeries puts in place of the geometry that the series' first slice lacks; empty when none.
std::string AssumedGeometry(const Series& series) {
  const FileHeader& file = series.files[series.slices.front().file];
  const FrameInfo& frame = file.frames[series.slices.front().frame];
  std::string assumed;
  const auto add = [&](const std::string& what) { assumed += (assumed.empty() ? "" : "; ") + what; };
  if (!frame.position) add("origin 0, as (0020,0032) ImagePositionPatient is missing");
  if (!frame.orientation) add("identity orientation, as (0020,0037) ImageOrientationPatient is missing");
  if (!frame.pixel_spacing && !file.imager_pixel_spacing)
    add("1 mm pixels, as (0028,0030) PixelSpacing and (0018,1164) ImagerPixelSpacing are missing");
  return assumed;
}

// Adds FILE and one slice per frame to SERIES.
void AppendFile(Series& series, FileHeader file) {
  if (series.unreferenceable.empty() && !file.uid_problem.empty())
    series.unreferenceable = file.path + ": " + file.uid_problem;
  for (size_t frame = 0; frame < file.frames.size(); ++frame) series.slices.push_back({series.files.size(), frame});
  series.files.push_back(std::move(file));
}

std::string PositionKey(const Vec3& position) {
  return Rounded(position[0], 2) + "," + Rounded(position[1], 2) + "," + Rounded(position[2], 2);
}

// Where slices repeat at every position the same number of times, the series holds several volumes
// (fMRI, diffusion, perfusion; mosaics of one volume per file): the K-th slice at each position, in
// the order of the volume keys, belongs to volume K. Returns false, leaving SERIES as it is, otherwise.
bool GroupVolumes(Series& series) {
  std::map<std::string, std::vector<SliceRef>> at_position;
  for (const auto& slice : series.slices) {
    const auto& position = series.files[slice.file].frames[slice.frame].position;
    if (!position) return false;
    at_position[PositionKey(*position)].push_back(slice);
  }
  const size_t volumes = at_position.begin()->second.size();
  if (volumes < 2 || at_position.size() < 2) return false;
  for (const auto& [key, slices] : at_position)
    if (slices.size() != volumes) return false;
  constexpr double kNone = -1e300;
  const auto keys = [&](const SliceRef& s) {
    const FileHeader& file = series.files[s.file];
    const FrameInfo& frame = file.frames[s.frame];
    return std::make_tuple(frame.temporal_position.value_or(INT32_MIN), file.acquisition_number,
                           frame.trigger_time.value_or(kNone), file.instance_number, s.file, s.frame);
  };
  std::set<std::string> deciding;
  std::vector<std::vector<SliceRef>> by_volume(volumes);
  for (auto& [key, slices] : at_position) {
    std::stable_sort(slices.begin(), slices.end(), [&](const SliceRef& a, const SliceRef& b) { return keys(a) < keys(b); });
    for (size_t v = 0; v < volumes; ++v) by_volume[v].push_back(slices[v]);
    const auto first = keys(slices.front()), last = keys(slices.back());
    if (std::get<0>(first) != std::get<0>(last)) deciding.insert("TemporalPosition");
    else if (std::get<1>(first) != std::get<1>(last)) deciding.insert("AcquisitionNumber");
    else if (std::get<2>(first) != std::get<2>(last)) deciding.insert("TriggerTime");
    else if (std::get<3>(first) != std::get<3>(last)) deciding.insert("InstanceNumber");
    else deciding.insert("frame order");
  }
  series.slices = std::move(by_volume.front());
  series.later_volumes.assign(std::make_move_iterator(by_volume.begin() + 1), std::make_move_iterator(by_volume.end()));
  std::string keys_used;
  for (const auto& key : deciding) keys_used += (keys_used.empty() ? "" : ", ") + key;
  AddProblem(series, ProblemCode::FourDSeries,
             std::to_string(volumes) + " volumes of " + std::to_string(series.slices.size()) + " slices, ordered by " +
                 keys_used);
  std::set<std::string> private_tags;
  for (size_t v = 0; v < series.VolumeCount(); ++v) {
    const FrameInfo& frame = series.VolumeFrame(v);
    if (!frame.private_diffusion.empty()) private_tags.insert(frame.private_diffusion);
    for (const auto& slice : series.VolumeSlices(v)) {
      const FrameInfo& other = series.files[slice.file].frames[slice.frame];
      if (other.b_value != frame.b_value || other.gradient != frame.gradient) {
        AddProblem(series, ProblemCode::NotAVolume,
                   "volume " + std::to_string(v) + " mixes diffusion weightings (" + series.files[slice.file].path + ")");
        return true;
      }
    }
  }
  if (!private_tags.empty()) {
    std::string from;
    for (const auto& tags : private_tags) from += (from.empty() ? "" : "; ") + tags;
    AddProblem(series, ProblemCode::PrivateDiffusionTags, "b-values and gradients from " + from);
  }
  return true;
}

std::string FrameKind(const FrameInfo& frame) {
  return (frame.echo_time ? Rounded(*frame.echo_time, 3) : "") + "/" + frame.component;
}

// What one part of a series split by echo or complex component holds ("echo time 4.92 ms, PHASE").
std::string KindText(const FrameInfo& frame) {
  std::string text = frame.echo_time ? "echo time " + Rounded(*frame.echo_time, 3) + " ms" : "";
  if (!frame.component.empty()) text += (text.empty() ? "" : ", ") + frame.component;
  return text.empty() ? "no echo time or component" : text;
}

// Enhanced files whose frames hold several echoes or complex components (per-frame MREchoSequence,
// MRImageFrameTypeSequence): one part per echo and component.
std::vector<Series> SplitFrameKinds(Series series) {
  std::map<std::string, std::vector<SliceRef>> by_kind;
  for (const auto& slice : series.slices) by_kind[FrameKind(series.files[slice.file].frames[slice.frame])].push_back(slice);
  if (by_kind.size() < 2) return {std::move(series)};
  std::vector<Series> parts;
  for (auto& [kind, slices] : by_kind) {
    Series part = series;
    part.slices = std::move(slices);
    part.split_key += "|f" + kind;
    parts.push_back(std::move(part));
  }
  return parts;
}

// Repeated positions that do not form whole volumes mean several series share the SeriesInstanceUID:
// split them by acquisition.
std::vector<Series> SplitRepeatedPositions(Series series) {
  if (series.kind != SeriesKind::Volume || GroupVolumes(series)) return {std::move(series)};
  std::map<std::string, int> position_count;
  bool repeated = false;
  for (const auto& slice : series.slices) {
    const auto& position = series.files[slice.file].frames[slice.frame].position;
    if (!position) continue;
    repeated = repeated || ++position_count[PositionKey(*position)] > 1;
  }
  if (!repeated || series.files.size() < 2) return {std::move(series)};
  std::vector<FileHeader> files = std::move(series.files);
  series.files.clear();
  series.slices.clear();  // SERIES is now the template each part starts from
  std::map<int, Series> by_acquisition;
  for (auto& file : files) {
    auto [it, inserted] = by_acquisition.try_emplace(file.acquisition_number, series);
    if (inserted) it->second.split_key += "|a" + std::to_string(file.acquisition_number);
    AppendFile(it->second, std::move(file));
  }
  // Parts of one slice each are not volumes either: keep them together so the index says so.
  const bool all_single = std::all_of(by_acquisition.begin(), by_acquisition.end(),
                                      [](const auto& entry) { return entry.second.slices.size() < 2; });
  if (by_acquisition.size() < 2 || all_single) {
    for (auto& [acquisition, part] : by_acquisition) {
      for (auto& file : part.files) AppendFile(series, std::move(file));
    }
    return {std::move(series)};
  }
  std::vector<Series> parts;
  for (auto& [acquisition, part] : by_acquisition) parts.push_back(std::move(part));
  return parts;
}

}  // namespace

const char* SeriesKindName(SeriesKind kind) {
  switch (kind) {
    case SeriesKind::Volume: return "volume";
    case SeriesKind::Projection: return "projection";
    case SeriesKind::Localizer: return "localizer";
    case SeriesKind::SecondaryCapture: return "secondary_capture";
    case SeriesKind::NonImage: return "non_image";
  }
  return "volume";
}

ArchiveIndex BuildIndex(ScanResult scan, const IndexOptions& options) {
  ArchiveIndex index;
  index.problems = std::move(scan.problems);
  index.files_seen = scan.files_seen;
  index.non_dicom_files = scan.non_dicom_files;
  index.nifti_files = std::move(scan.nifti_files);

  std::map<std::string, std::string> first_path_of_instance;
  std::map<std::string, std::map<std::string, Series>> grouped;  // study UID -> series key -> series
  for (auto& header : scan.headers) {
    // Anonymised files may lack UIDs: the folder is then the best evidence of what belongs together.
    const std::string folder = "folder:" + std::filesystem::path(header.path).parent_path().string();
    if (header.study_instance_uid.empty()) header.study_instance_uid = folder;
    if (header.series_instance_uid.empty()) header.series_instance_uid = folder;
    auto [it, inserted] = first_path_of_instance.emplace(header.sop_instance_uid, header.path);
    if (!inserted) {
      ++index.duplicate_files;
      index.problems.push_back({header.path, "duplicate_instance: same SOPInstanceUID as " + it->second + "; skipped"});
      continue;
    }
    // Philips' floating-point value: (stored x RS + RI) / (RS x SS), with each frame's own slopes.
    if (options.philips_float) {
      for (auto& frame : header.frames) {
        if (!frame.philips_scale_slope) continue;
        const double rs = frame.rescale_slope, ss = *frame.philips_scale_slope;
        frame.rescale_intercept = frame.rescale_intercept / (rs * ss);
        frame.rescale_slope = 1.0 / ss;
      }
    }
    const SeriesKind kind = Classify(header);
    // Projections are one image each; everything else splits on what must agree within a volume.
    const bool single = kind == SeriesKind::Projection;
    const std::string split = kind == SeriesKind::NonImage ? "" : SplitKey(header, header.frames.front());
    const std::string key = header.series_instance_uid + "#" + (single ? header.sop_instance_uid : split);
    Series& series = grouped[header.study_instance_uid][key];
    if (series.files.empty()) {
      series.series_instance_uid = header.series_instance_uid;
      series.modality = header.modality;
      series.description = header.series_description;
      series.series_number = header.series_number;
      series.kind = kind;
      series.split_key = single ? header.sop_instance_uid : split;
    }
    AppendFile(series, std::move(header));
  }

  for (auto& [study_uid, by_key] : grouped) {
    Study study;
    study.study_instance_uid = study_uid;
    study.id = ShortId(study_uid);
    std::map<std::string, int> parts_per_uid;
    std::map<std::string, std::set<std::string>> kinds_per_uid;  // echo/component of each part
    for (auto& [key, series] : by_key) {
      ++parts_per_uid[series.series_instance_uid];
      if (!series.slices.empty())
        kinds_per_uid[series.series_instance_uid].insert(FrameKind(series.files[series.slices.front().file].frames[series.slices.front().frame]));
    }
    for (auto& [key, grouped_series] : by_key) {
      std::vector<Series> parts;
      for (auto& by_frame : SplitFrameKinds(std::move(grouped_series)))
        for (auto& part : SplitRepeatedPositions(std::move(by_frame))) parts.push_back(std::move(part));
      for (auto& series : parts) {
        if (study.study_date.empty()) study.study_date = series.files.front().study_date;
        const bool frame_split = series.split_key.find("|f") != std::string::npos;
        if ((kinds_per_uid[series.series_instance_uid].size() > 1 || frame_split) && !series.slices.empty()) {
          const FrameInfo& frame = series.files[series.slices.front().file].frames[series.slices.front().frame];
          AddProblem(series, ProblemCode::EchoOrComponentSplit, "this part holds " + KindText(frame));
        }
        if (parts_per_uid[series.series_instance_uid] < 2 && series.split_key.find("|a") == std::string::npos && !frame_split &&
            series.kind != SeriesKind::Projection) {
          series.split_key.clear();
        }
        series.id = ShortId(series.series_instance_uid + "#" + series.split_key);
        switch (series.kind) {
          case SeriesKind::Volume: OrderVolume(series, options); break;
          case SeriesKind::Localizer:
            AddProblem(series, ProblemCode::Localizer, "scout image, left out of volumes");
            break;
          case SeriesKind::SecondaryCapture:
            AddProblem(series, ProblemCode::SecondaryCapture, "secondary capture, left out of volumes");
            break;
          case SeriesKind::NonImage: AddProblem(series, ProblemCode::NonImage, "no pixel data"); break;
          case SeriesKind::Projection: break;
        }
        if (options.philips_float && series.files.front().philips_scale_slope)
          AddProblem(series, ProblemCode::PhilipsFloatScaling,
                     "voxels are stored / (2005,100E) ScaleSlope " + Rounded(*series.files.front().philips_scale_slope, 6) +
                         " (--philips-scaling float), not the DICOM display value");
        const bool written = series.kind == SeriesKind::Volume || series.kind == SeriesKind::Projection;
        if (written && !series.Refused() && !series.slices.empty()) {
          if (const std::string assumed = AssumedGeometry(series); !assumed.empty())
            AddProblem(series, ProblemCode::AssumedGeometry, assumed + " (" + series.files.front().path + ")");
        }
        study.series.push_back(std::move(series));
      }
    }
    std::stable_sort(study.series.begin(), study.series.end(),
                     [](const Series& a, const Series& b) { return a.series_number < b.series_number; });
    index.studies.push_back(std::move(study));
  }
  return index;
}

}  // namespace medpipe::dicom
