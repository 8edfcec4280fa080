#pragma once
// DICOM RT Structure Sets (RTSTRUCT) of label images on the grid of a loaded source series, written and
// read back with DCMTK's dcmrt.
//
// Contour convention: RT systems read a contour by sampling voxel centres (a voxel belongs to the ROI
// when its centre lies inside), so a contour runs along the outer edges of its voxels, at half-integer
// pixel coordinates (the corners of the pixel squares), never through voxel centres. Each closed contour
// is the border of one region of one label on one mask slice, with only the corners where it turns;
// the border of each hole is a contour of its own. Pixels that touch only at a corner are separate
// regions (4-connected), so a pocket of background reaching in through a corner is outside, not a hole.
// Reading fills each slice's contours by the even-odd rule at pixel centres (holes and islands), with
// no voxels added along the contours. Masks read back voxel for voxel when the reference grid is the
// mask grid; a reader that ORs a slice's contours (plastimatch's default) fills holes.
//
// Each ROI's RTROIInterpretedType (PS3.3 C.8.8.8.1) is ORGAN when its label's category is Anatomical Structure
// (model::IsAnatomicalCategory; the default), and empty otherwise (a lesion is no GTV until a clinician makes
// it one).
#include <filesystem>
#include <string>
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

// The ROI name of LABEL: RT systems list ROIs by name, so it is the structure with its part and side
// where the codes say them ("Left Anterior Hippocampus"), else the label's name, which always stays in
// the ROI's observation label.
std::string RoiName(const model::Label& label);

// Writes MASK (on the grid of the loaded SOURCE series) as an RTSTRUCT at PATH: one ROI per label of
// LABELS present in the mask (ROI number = label value, name, colour, codes, generation algorithm
// AUTOMATIC by ALGORITHM_NAME), CLOSED_PLANAR contours per mask slice in patient LPS, each referencing
// the source instance at that slice's position when there is one. Patient, study and frame of reference
// come from the first source file's re-encoded header. Returns the new SOPInstanceUID.
// Throws DicomError naming PATH or the source file, ModelError for a label value outside 1..255 or a
// mask value that no label names.
std::string WriteRtStruct(const LabelImage& mask, const std::vector<model::Label>& labels, const dicom::SourceSeries& source,
                          const std::string& algorithm_name, const std::filesystem::path& path);

// Reads the RTSTRUCT at PATH and rasterises its CLOSED_PLANAR contours (the convention above; points
// taken as continuous indices of REFERENCE, not rounded) into a label image on REFERENCE's grid, ROI
// number N becoming label value N. POINT and OPEN_PLANAR contours enclose no voxels and are left out.
// Throws DicomError naming PATH when it cannot be read, a ROI number is outside 1..255, or a contour
// does not lie on one slice of REFERENCE.
LabelImage::Pointer ReadRtStruct(const std::filesystem::path& path, const LabelImage& reference);

}  // namespace medpipe::exporter
