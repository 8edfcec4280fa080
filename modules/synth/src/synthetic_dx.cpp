#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "dicom_file_writer.h"
#include "medpipe/core/error.h"
#include "medpipe/synth/synthetic_study.h"
#include "series_header.h"
#include "study_folder.h"
#include "uniform_noise.h"

namespace medpipe::synth {

namespace {

constexpr int kUidCode = 3;
constexpr int kBitsStored = 12;
constexpr int kMaxValue = (1 << kBitsStored) - 1;
constexpr int kNoise = 25;
// MONOCHROME2 for presentation: more attenuation is brighter.
constexpr int kDirectExposure = 150;
constexpr int kSoftTissue = 2000;
constexpr int kLung = 800;
constexpr int kHeart = 1900;
constexpr int kSpine = 3000;
constexpr int kRibIncrement = 900;
constexpr int kRibCount = 8;

// Image left is patient right in a PA view; coordinates u (across) and v (down) run over [0, 1].
bool InEllipse(double u, double v, double centre_u, double centre_v, double half_u, double half_v) {
  const double du = (u - centre_u) / half_u, dv = (v - centre_v) / half_v;
  return du * du + dv * dv <= 1.0;
}

// Posterior ribs: arcs that leave the spine and fall laterally.
bool OnRib(double u, double v) {
  const double lateral = std::abs(u - 0.5);
  if (lateral < 0.04 || lateral > 0.36) return false;
  for (int rib = 0; rib < kRibCount; ++rib) {
    const double arc_v = 0.22 + 0.065 * rib + 0.9 * lateral * lateral;
    if (std::abs(v - arc_v) < 0.012) return true;
  }
  return false;
}

int Intensity(double u, double v) {
  if (!InEllipse(u, v, 0.5, 0.55, 0.42, 0.5)) return kDirectExposure;
  if (std::abs(u - 0.5) < 0.035) return kSpine;
  int value = kSoftTissue;
  if (InEllipse(u, v, 0.56, 0.62, 0.13, 0.12)) {
    value = kHeart;
  } else if (InEllipse(u, v, 0.30, 0.45, 0.14, 0.28) || InEllipse(u, v, 0.70, 0.45, 0.14, 0.28)) {
    value = kLung;
  }
  return OnRib(u, v) ? value + kRibIncrement : value;
}

// A one-item code sequence with a SNOMED CT code.
void PutSnomedCode(DcmItem& item, const DcmTagKey& sequence, const char* value, const char* meaning) {
  DcmItem* code = nullptr;
  const OFCondition status = item.findOrCreateSequenceItem(sequence, code);
  if (status.bad()) throw InternalError(DcmTag(sequence).getTagName(), status.text());
  PutString(*code, DCM_CodeValue, value);
  PutString(*code, DCM_CodingSchemeDesignator, "SCT");
  PutString(*code, DCM_CodeMeaning, meaning);
}

void PutDxAttributes(DcmItem& item) {
  PutString(item, DCM_ImageType, "ORIGINAL\\PRIMARY");
  PutString(item, DCM_PresentationIntentType, "FOR PRESENTATION");
  PutString(item, DCM_ViewPosition, "PA");
  PutSnomedCode(item, DCM_ViewCodeSequence, "399348003", "postero-anterior");
  PutSnomedCode(item, DCM_AnatomicRegionSequence, "51185008", "Chest");
  PutString(item, DCM_PositionerType, "");
  if (item.insertEmptyElement(DCM_AcquisitionContextSequence).bad()) {
    throw InternalError("AcquisitionContextSequence", "cannot insert the empty sequence");
  }
  PutString(item, DCM_PatientOrientation, "L\\F");
  PutString(item, DCM_ImageLaterality, "U");
  PutString(item, DCM_ImagerPixelSpacing, "0.5\\0.5");
  PutString(item, DCM_PixelSpacing, "0.5\\0.5");
  PutString(item, DCM_DetectorType, "SCINTILLATOR");
  PutString(item, DCM_KVP, "120");
  PutString(item, DCM_AcquisitionNumber, "1");
  PutString(item, DCM_RescaleIntercept, "0");
  PutString(item, DCM_RescaleSlope, "1");
  PutString(item, DCM_RescaleType, "US");
  PutString(item, DCM_PixelIntensityRelationship, "LIN");
  PutString(item, DCM_PixelIntensityRelationshipSign, "1");
  PutString(item, DCM_PresentationLUTShape, "IDENTITY");
  PutString(item, DCM_WindowCenter, "2048");
  PutString(item, DCM_WindowWidth, "4096");
}

}  // namespace

std::filesystem::path WriteSyntheticDx(const std::filesystem::path& out_dir, int columns, int rows, uint32_t seed) {
  if (columns < 1) throw ConfigError("columns", "must be at least 1, got " + std::to_string(columns));
  if (rows < 1) throw ConfigError("rows", "must be at least 1, got " + std::to_string(rows));
  std::filesystem::path folder = CreateStudyFolder(out_dir, "dx");

  DcmFileFormat file;
  DcmDataset& dataset = *file.getDataset();
  const SeriesIdentity identity{
      kUidCode, seed, UID_DigitalXRayImageStorageForPresentation, "DX", "SYNTHETIC^DX", "Synthetic PA chest", "CHEST"};
  PutSeriesHeader(dataset, identity, 1);
  PutDxAttributes(dataset);

  UniformNoise noise(seed, kNoise);
  GreyImage image{columns, rows, kBitsStored, false, {}};
  image.pixels.reserve(static_cast<size_t>(columns) * rows);
  for (int row = 0; row < rows; ++row) {
    for (int column = 0; column < columns; ++column) {
      const int value = Intensity((column + 0.5) / columns, (row + 0.5) / rows) + noise.Next();
      image.pixels.push_back(static_cast<uint16_t>(std::clamp(value, 0, kMaxValue)));
    }
  }
  WriteDicomFile(file, image, folder / "image.dcm", Encoding::ExplicitLittle);
  return folder;
}

}  // namespace medpipe::synth
