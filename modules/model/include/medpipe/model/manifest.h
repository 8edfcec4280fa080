#pragma once
// A model package: models/<name>/manifest.json beside model.pt (TorchScript). The manifest alone says
// how to feed the model and read its output, so no Python code is needed to deploy it.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medpipe::model {

enum class Task { Segmentation, Classification };
enum class Activation { Softmax, Sigmoid };
enum class Interpolation { Linear, BSpline };

// How intensities become model inputs (nnU-Net's schemes plus X-ray scaling).
struct Normalisation {
  enum class Scheme {
    Ct,          // clip to [lower, upper], then (x - mean) / std
    ZScore,      // (x - mean) / std of the image itself
    Percentile,  // clip to the [lower, upper] percentiles of the image, then scale to [0, 1]
    MinMax,      // scale the image's own range to [0, 1]
  };
  Scheme scheme = Scheme::ZScore;
  double lower = 0, upper = 0;
  double mean = 0, std = 1;
};

struct InputChannel {
  std::string name;
  std::string modality;  // DICOM Modality (CT, MR, DX, ...) the channel comes from
};

// A coded concept (DICOM code sequence item), as DICOM SEG needs for each segment.
struct Code {
  std::string value, scheme, meaning;
};

// "Anatomical Structure" as a segment category (CID 7150): SCT 123037004 as dcmqi and TotalSegmentator
// write it, SCT 91723000 as older tools and medpipe's own manifests do, SRT T-D000A before SNOMED CT.
inline bool IsAnatomicalCategory(const Code& category) {
  return (category.scheme == "SCT" && (category.value == "123037004" || category.value == "91723000")) ||
         (category.scheme == "SRT" && category.value == "T-D000A");
}

// Which side of the body a label's structure is on. Paired organs say it, or say that the model
// cannot tell (a crop around one hippocampus), so that no reader takes two sides for one structure.
enum class Laterality {
  Unpaired,  // a structure without sides (or a finding that is not an organ)
  Left,      // SCT 7771000
  Right,     // SCT 24028007
  Unknown,   // a paired organ whose side the model does not determine
};

// A segmentation label (output value) or a classification class (output index).
struct Label {
  int value = 0;
  std::string name;
  std::array<int, 3> colour{255, 0, 0};
  // Segmentation: the segment's property category and type. Classification: TYPE is the coded finding
  // the class stands for (e.g. SCT 233604007 "Pneumonia"), empty when the manifest gives none.
  Code category, type;
  std::optional<Code> modifier;  // the part of TYPE, e.g. SCT 255549009 "Anterior"
  Laterality laterality = Laterality::Unpaired;
  // Segmentation: the label's volume range the package calls normal (mL, low < high), manifest
  // "normal_range_ml": [low, high]; results carry it and the cohort plots flag volumes outside it.
  // Its model card says where it comes from.
  std::optional<std::array<double, 2>> normal_range_ml;
};

// "unpaired", "left", "right" or "unknown", as the manifest spells it.
const char* LateralityName(Laterality laterality);
// The SNOMED CT code of a known side; none for unpaired and unknown.
std::optional<Code> LateralityCode(Laterality laterality);
// What distinguishes LABEL's structure from others of the same type, for names and descriptions:
// e.g. "Anterior Hippocampus, side unknown"; empty when it has no type code.
std::string StructureText(const Label& label);

struct Postprocessing {
  bool largest_component = false;  // keep only the largest connected component of each label
  double min_component_mm3 = 0;    // drop components smaller than this
  bool fill_holes = false;         // fill enclosed background inside each label
};

// Classification: POSITIVE_CLASS (an index into labels) is decided when its probability reaches THRESHOLD.
struct DecisionRule {
  int positive_class = 0;
  double threshold = 0.5;
};

// Run at load: a deterministic input (x[i] = sin(0.37 i)) and samples of the expected output.
struct GoldenVector {
  std::vector<int64_t> input_shape;
  std::vector<int64_t> output_shape;
  int64_t stride = 1;             // samples are output.flatten()[::stride]
  std::vector<double> samples;
  double tolerance = 1e-4;        // max absolute difference
};

// Whose steps turn a series into the network's input and its output into labels: medpipe's (the
// manifest's input fields) or nnU-Net's (the package's nnunet.json, docs/nnunet-import.md).
enum class Preprocessing { Medpipe, Nnunet };

// How a DICOM series' voxels are laid out for a model trained on NIfTI files that were converted from
// DICOM: nnU-Net reads the voxel array as the file stores it and ignores the direction matrix.
enum class DicomVoxelOrder {
  Dcm2niix,  // as dcm2niix writes it: columns as stored, rows reversed, slices along the normal
  Medpipe,   // as medpipe assembles (and `medpipe convert` writes) it: rows as stored
};

// A package exported from nnU-Net (`medpipe model import nnunet`).
struct NnunetSettings {
  std::string plan = "nnunet.json";  // relative to the package
  std::string plan_sha256;           // of that file
  DicomVoxelOrder dicom_voxel_order = DicomVoxelOrder::Dcm2niix;
  // nnU-Net's postprocessing.json, in order: each step keeps only the largest connected component of the
  // union of its labels (remove_all_but_largest_component_from_segmentation); empty: none.
  std::vector<std::vector<int>> keep_largest_component;
};

// Which volume of a 4-D series (fMRI, diffusion, perfusion) a model reads: manifest
// "input.volume" is "first", {"index": N} (0-based, acquisition order) or {"b_value": B} (s/mm^2: the
// first volume whose b-value is within kBValueTolerance of B). A 3-D series is volume 0.
struct VolumeRule {
  enum class Kind { First, Index, BValue };
  static constexpr double kBValueTolerance = 1.0;  // s/mm^2: scanners store b-values rounded
  Kind kind = Kind::First;
  size_t index = 0;
  double b_value = 0;
};

// The rule as the manifest spells it: "first", "index 3", "b_value 1000".
std::string VolumeRuleText(const VolumeRule& rule);

struct Manifest {
  std::filesystem::path directory;
  std::string name, version, description, license, training_data;
  Task task = Task::Segmentation;
  std::string sha256;  // of model.pt
  Preprocessing preprocessing = Preprocessing::Medpipe;
  std::optional<NnunetSettings> nnunet;  // set when preprocessing is Nnunet

  std::vector<InputChannel> channels;
  int spatial_dims = 3;
  std::string orientation;                      // e.g. "RAS" (axes point towards); empty keeps the source's
  std::optional<std::array<double, 3>> spacing_mm;  // x, y, z; empty keeps the source's
  std::array<int64_t, 3> patch_size{1, 1, 1};   // x, y, z; z is 1 for 2D models
  Interpolation interpolation = Interpolation::Linear;
  Normalisation normalisation;

  Activation activation = Activation::Softmax;
  std::vector<Label> labels;  // segmentation: values 1..; classification: one per output index
  Postprocessing postprocessing;
  std::optional<DecisionRule> decision;  // classification only
  std::vector<int> mirror_axes;  // spatial axes (0 = x, 1 = y, 2 = z) safe to flip for test-time augmentation
  // Which DICOM series of a study the model reads: a case-insensitive ECMAScript regular expression
  // searched in SeriesDescription (0008,103E); empty reads every series of the right modality.
  std::string series_description;
  VolumeRule volume;  // which volume of a 4-D series it reads

  GoldenVector golden;

  std::filesystem::path ModelFile() const { return directory / "model.pt"; }
  std::filesystem::path NnunetPlanFile() const { return directory / (nnunet ? nnunet->plan : "nnunet.json"); }
  // Number of channels the network outputs: background plus labels for softmax segmentation.
  int64_t OutputChannels() const;
};

// Reads and validates DIRECTORY/manifest.json; throws ModelError naming the field that is wrong.
// Does not touch model.pt (see inference::LoadModel for the sha256 and golden checks).
Manifest LoadManifest(const std::filesystem::path& directory);

// Parses the manifest text of DIRECTORY without reading any file (for tests and tools).
Manifest ParseManifest(const std::string& json_text, const std::filesystem::path& directory);

const char* TaskName(Task task);
// "dcm2niix" or "medpipe", as the manifest spells it.
const char* DicomVoxelOrderName(DicomVoxelOrder order);

// Whether MANIFEST's series selector picks a series with DESCRIPTION.
bool SelectsSeries(const Manifest& manifest, const std::string& description);

}  // namespace medpipe::model
