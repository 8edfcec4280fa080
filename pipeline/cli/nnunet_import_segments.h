#pragma once
// Segment codes for an imported model from the field's standard segment description: dcmqi's metainfo JSON
// (itkimage2segimage's --inputMetadata, as TotalSegmentator and MONAI write it).
#include <filesystem>

#include <nlohmann/json.hpp>

namespace medpipe::cli {

// LABELS (manifest output.labels entries: value, name, colour) with FILE's codes: for each label the
// segmentAttributes item of the same labelID gives category, type, modifier (a left/right modifier becomes
// the label's laterality) and colour (recommendedDisplayRGBValue). A ConfigError names FILE and every label
// it does not cover, or an item it cannot read.
nlohmann::json LabelsWithSegmentAttributes(const nlohmann::json& labels, const std::filesystem::path& file);

}  // namespace medpipe::cli
