#include "stages/deidentify.h"

#include "medpipe/export/deidentify.h"

namespace medpipe::cli {

void DeidentifySource(dicom::SourceSeries& source, std::unique_ptr<dicom::Series>& owner) {
  std::string header = exporter::DeidentifiedHeader(source);
  owner = std::make_unique<dicom::Series>(exporter::DeidentifiedSeries(*source.series));
  source.series = owner.get();
  source.header = std::move(header);
}

}  // namespace medpipe::cli
