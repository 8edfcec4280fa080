#include "stages/nnunet_model.h"

#include <algorithm>

#include <ATen/Parallel.h>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/inference/cpu_module.h"
#include "medpipe/nnunet/largest_component.h"

namespace medpipe::cli {
namespace {

// Reverses the rows of DATA, PLANES planes of ROWS rows of COLUMNS voxels.
template <typename T>
void ReverseRows(T* data, int64_t planes, int64_t rows, int64_t columns) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < rows / 2; ++r)
      std::swap_ranges(data + (p * rows + r) * columns, data + (p * rows + r + 1) * columns,
                       data + (p * rows + rows - 1 - r) * columns);
}

// ITK's buffer (x fastest) is nnU-Net's reader array (C, z, y, x) of a NIfTI file read as stored.
nnunet::Array4 ArrayOf(const Volume& volume, bool reverse_rows) {
  const auto size = volume.Grid().GetLargestPossibleRegion().GetSize();
  const nnunet::Shape3 shape{static_cast<int64_t>(size[2]), static_cast<int64_t>(size[1]), static_cast<int64_t>(size[0])};
  nnunet::Array4 array(static_cast<int64_t>(volume.channels.size()), shape);
  for (size_t c = 0; c < volume.channels.size(); ++c) {
    float* channel = array.Channel(static_cast<int64_t>(c));
    std::copy_n(volume.channels[c]->GetBufferPointer(), array.ChannelSize(), channel);
    if (reverse_rows) ReverseRows(channel, shape[0], shape[1], shape[2]);
  }
  return array;
}

torch::jit::Module LoadFoldLogits(const model::Manifest& manifest, torch::Device device) {
  const std::string file = manifest.ModelFile().string();
  torch::jit::Module module;
  try {
    module = torch::jit::load(file, device);
  } catch (const std::exception& error) {
    throw ModelError(file, std::string("is not a loadable TorchScript model: ") + error.what());
  }
  module.eval();
  if (!module.find_method("fold_logits"))
    throw ModelError(file, "has no fold_logits(x) method; re-import the nnU-Net model with `medpipe model import nnunet`");
  // On the CPU, the form LoadedModel runs too: frozen, transposed convolutions rewritten, oneDNN-prepacked.
  return device.is_cuda() ? module : inference::CpuModule(module, inference::Precision::Fp32, "fold_logits");
}

}  // namespace

// OpenMP keeps the thread count per thread, so it is set on each calling thread.
unsigned NnunetCpuThreads() {
  inference::UseCpuThreads();
  return static_cast<unsigned>(std::max(1, at::get_num_threads()));
}

LabelImage::Pointer LabelImageOn(const Image3D& grid, const std::vector<uint8_t>& labels) {
  auto image = LabelImage::New();
  image->SetRegions(grid.GetLargestPossibleRegion());
  image->SetSpacing(grid.GetSpacing());
  image->SetOrigin(grid.GetOrigin());
  image->SetDirection(grid.GetDirection());
  image->Allocate();
  if (labels.size() != image->GetLargestPossibleRegion().GetNumberOfPixels())
    throw InternalError("labels on the series' grid", std::to_string(labels.size()) + " labels for " +
                                                          std::to_string(image->GetLargestPossibleRegion().GetNumberOfPixels()) + " voxels");
  std::copy(labels.begin(), labels.end(), image->GetBufferPointer());
  return image;
}

NnunetModel::NnunetModel(const model::Manifest& manifest, torch::Device device, std::optional<double> tile_step_size)
    : manifest_(manifest), plan_(nnunet::ReadNnunetPlan(manifest.directory)), device_(device) {
  if (tile_step_size) plan_.inference.tile_step_size = *tile_step_size;
  const auto plan_file = manifest.NnunetPlanFile();
  const std::string digest = Sha256File(plan_file);
  if (digest != manifest.nnunet->plan_sha256)
    throw ModelError(plan_file.string(), "has sha256 " + digest + " but the manifest says " + manifest.nnunet->plan_sha256 +
                                             " (plan changed or manifest stale; re-import the model)");
  if (plan_.input_channels != static_cast<int64_t>(manifest.channels.size()))
    throw ModelError(plan_file.string(), "has " + std::to_string(plan_.input_channels) + " input channel(s), manifest.json " +
                                             std::to_string(manifest.channels.size()));
  if (plan_.output_channels != manifest.OutputChannels())
    throw ModelError(plan_file.string(), "has " + std::to_string(plan_.output_channels) +
                                             " output channels, manifest.json's labels imply " +
                                             std::to_string(manifest.OutputChannels()));
  module_ = LoadFoldLogits(manifest, device);
}

std::shared_ptr<NnunetJob> NnunetModel::Prepare(const SeriesContext& series) const {
  auto job = std::make_shared<NnunetJob>();
  job->rows_reversed = series.source && manifest_.nnunet->dicom_voxel_order == model::DicomVoxelOrder::Dcm2niix;
  const auto spacing = series.volume.Grid().GetSpacing();
  job->prepared = nnunet::PrepareCase(ArrayOf(series.volume, job->rows_reversed), {spacing[2], spacing[1], spacing[0]},
                                      plan_, NnunetCpuThreads());
  return job;
}

std::shared_ptr<NnunetJob> NnunetModel::PrepareArray(const nnunet::Array4& image, const nnunet::Spacing3& spacing) const {
  auto job = std::make_shared<NnunetJob>();
  job->prepared = nnunet::PrepareCase(image, spacing, plan_, NnunetCpuThreads());
  return job;
}

std::vector<uint8_t> NnunetModel::Labels(const NnunetJob& job) const {
  return nnunet::LabelsFromLogits(job.window.logits, job.prepared, plan_, NnunetCpuThreads());
}

void NnunetModel::Infer(NnunetJob& job, int64_t tile_batch, nlohmann::json& report) {
  if (device_.is_cpu()) inference::UseCpuThreads();
  const auto fold_logits = [this](const torch::Tensor& batch) {
    return module_.get_method("fold_logits")({batch.to(device_)}).toTensor();
  };
  job.window = nnunet::PredictLogits(fold_logits, job.prepared.data, plan_, tile_batch);
  const auto& shape = job.prepared.data.Shape();
  report.update({{"device", device_.str()},
                 {"precision", "fp32"},
                 {"batch_size", tile_batch},
                 {"patches", job.window.tiles},
                 {"nnunet", {{"preprocessed_shape", {shape[0], shape[1], shape[2]}},
                             {"mirror_axes", plan_.inference.mirror_axes},
                             {"keep_largest_component", manifest_.nnunet->keep_largest_component},
                             {"dicom_rows_reversed", job.rows_reversed}}}});
  job.prepared.data = nnunet::Array4();  // the logits replace the input
}

LabelImage::Pointer NnunetModel::Finish(const NnunetJob& job, const Image3D& grid) const {
  auto image = LabelImageOn(grid, Labels(job));
  const auto size = grid.GetLargestPossibleRegion().GetSize();
  if (job.rows_reversed)
    ReverseRows(image->GetBufferPointer(), static_cast<int64_t>(size[2]), static_cast<int64_t>(size[1]),
                static_cast<int64_t>(size[0]));
  // Connectivity does not depend on the voxel order, so nnU-Net's postprocessing runs on medpipe's grid.
  for (const auto& step : manifest_.nnunet->keep_largest_component) nnunet::KeepLargestComponent(*image, step);
  return image;
}

}  // namespace medpipe::cli
