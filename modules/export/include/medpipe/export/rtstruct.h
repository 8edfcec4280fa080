#pragma once
// DICOM RT Structure Sets (RTSTRUCT) of label images on the grid of a loaded source series, written and
// read back with DCMTK's dcmrt; contours come from OpenCV.
//
// Contour convention: a contour runs through the voxel centres of the boundary voxels of one 8-connected
// region of one label on one mask slice (cv::findContours, RETR_CCOMP, CHAIN_APPROX_SIMPLE); a hole
// gives a second contour through the centres of the region's voxels around the hole. So a contour
// encloses its own boundary voxels, and reading fills each slice's contours by even-odd parity (the
// usual RTSTRUCT reading of holes and islands) and then adds every contour's own voxels. Masks read
// back voxel for voxel, holes and islands included, when the reference grid is the mask grid.
#include <filesystem>
#include <string>
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

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
// rounded to the nearest voxel of REFERENCE) into a label image on REFERENCE's grid, ROI number N
// becoming label value N. POINT and OPEN_PLANAR contours enclose no voxels and are left out.
// Throws DicomError naming PATH when it cannot be read, a ROI number is outside 1..255, or a contour
// does not lie on one slice of REFERENCE.
LabelImage::Pointer ReadRtStruct(const std::filesystem::path& path, const LabelImage& reference);

}  // namespace medpipe::exporter
