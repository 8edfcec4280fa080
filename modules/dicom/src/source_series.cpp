#include "medpipe/dicom/source_series.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcstack.h>

#include <utility>
#include <vector>

#include "indexed_file.h"
#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

constexpr Uint32 kMaxValueLength = 4096;

// Elements whose value stayed on disk (longer than kMaxValueLength), with the item holding each.
std::vector<std::pair<DcmItem*, DcmElement*>> UnloadedElements(DcmDataset& dataset) {
  std::vector<std::pair<DcmItem*, DcmElement*>> unloaded;
  DcmStack stack;
  while (dataset.nextObject(stack, OFTrue).good()) {
    DcmObject* object = stack.top();
    if (!object->isLeaf() || stack.card() < 2) continue;
    DcmObject* parent = stack.elem(1);
    if (parent->ident() != EVR_item && parent->ident() != EVR_dataset) continue;  // fragments go with their pixel data
    auto* element = static_cast<DcmElement*>(object);
    if (!element->valueLoaded()) unloaded.emplace_back(static_cast<DcmItem*>(parent), element);
  }
  return unloaded;
}

}  // namespace

std::string EncodeSourceHeader(DcmFileFormat& file, const std::string& where) {
  // Without pixel data any transfer syntax's dataset can be written uncompressed (the meta header follows).
  const E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  std::string bytes;
  char chunk[1 << 16];
  DcmOutputBufferStream out(chunk, sizeof chunk);
  file.transferInit();
  OFCondition status;
  do {  // DCMTK hands the stream back whenever the chunk is full
    status = file.write(out, xfer, EET_ExplicitLength, nullptr);
    void* written = nullptr;
    offile_off_t length = 0;
    out.flushBuffer(written, length);
    bytes.append(static_cast<const char*>(written), static_cast<size_t>(length));
  } while (status == EC_StreamNotifyClient);
  file.transferEnd();
  if (status.bad()) throw DicomError(where, std::string("cannot re-encode the header: ") + status.text());
  return bytes;
}

std::string ReencodeSourceHeader(const Series& series) {
  if (series.files.empty()) throw DicomError(series.id, "series has no files");
  const std::string& path = series.files.front().path;
  DcmFileFormat file;
  LoadIndexedFile(file, path, "header", kMaxValueLength);
  DcmDataset& dataset = *file.getDataset();
  for (const DcmTagKey& tag : {DCM_PixelData, DCM_FloatPixelData, DCM_DoubleFloatPixelData, DCM_DataSetTrailingPadding})
    dataset.findAndDeleteElement(tag);
  for (auto [item, element] : UnloadedElements(dataset)) delete item->remove(element);
  return EncodeSourceHeader(file, path);
}

std::unique_ptr<DcmFileFormat> ParseSourceHeader(const SourceSeries& source) {
  const std::string where = source.series->files.empty() ? source.series->id : source.series->files.front().path;
  if (source.header.empty()) throw DicomError(where, "series " + source.series->id + " has no re-encoded header");
  DcmInputBufferStream in;
  in.setBuffer(source.header.data(), static_cast<offile_off_t>(source.header.size()));
  in.setEos();
  auto file = std::make_unique<DcmFileFormat>();
  file->transferInit();
  const OFCondition status = file->read(in);
  file->transferEnd();
  if (status.bad()) throw DicomError(where, std::string("cannot read the re-encoded source header: ") + status.text());
  return file;
}

StudyLabels StudyLabelsOf(const SourceSeries& source) {
  const auto file = ParseSourceHeader(source);
  const auto text = [&](const DcmTagKey& tag) {
    OFString value;
    file->getDataset()->findAndGetOFStringArray(tag, value);
    return std::string(value.c_str());
  };
  return {text(DCM_StudyDate), text(DCM_AccessionNumber), text(DCM_StudyDescription)};
}

}  // namespace medpipe::dicom
