#include "axial_series_writer.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include "dicom_file_writer.h"
#include "study_folder.h"
#include "synthetic_uid.h"

namespace medpipe::synth {

std::filesystem::path WriteAxialSeries(const std::filesystem::path& out_dir, const std::string& name,
                                       const VolumeSpec& spec, const SeriesIdentity& identity,
                                       const std::function<void(DcmItem&)>& put_modality_attributes,
                                       const std::function<GreyImage(const AxialGrid&, int slice)>& render_slice) {
  const AxialGrid grid(spec);
  std::filesystem::path folder = CreateStudyFolder(out_dir, name);
  const std::string frame_of_reference = SyntheticUid(identity.uid_code, identity.seed, UidRole::FrameOfReference);
  for (int slice = 0; slice < spec.slices; ++slice) {
    const int instance_number = slice + 1;
    DcmFileFormat file;
    DcmDataset& dataset = *file.getDataset();
    PutSeriesHeader(dataset, identity, instance_number);
    PutString(dataset, DCM_FrameOfReferenceUID, frame_of_reference);
    PutString(dataset, DCM_PositionReferenceIndicator, "");
    PutString(dataset, DCM_PatientPosition, "HFS");
    grid.PutSlicePlane(dataset, slice);
    put_modality_attributes(dataset);
    WriteDicomFile(file, render_slice(grid, slice), folder / SliceFileName(instance_number), spec.encoding);
  }
  return folder;
}

}  // namespace medpipe::synth
