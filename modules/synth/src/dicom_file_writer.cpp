#include "dicom_file_writer.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <memory>
#include <string>
#include <vector>

#include "j2k_encoder.h"
#include "jpegls_encoder.h"
#include "medpipe/core/error.h"
#include "series_header.h"

namespace medpipe::synth {

namespace {

void PutPixelModule(DcmItem& item, const GreyImage& image) {
  PutString(item, DCM_SamplesPerPixel, "1");
  PutString(item, DCM_PhotometricInterpretation, "MONOCHROME2");
  PutString(item, DCM_Rows, std::to_string(image.rows));
  PutString(item, DCM_Columns, std::to_string(image.columns));
  PutString(item, DCM_BitsAllocated, "16");
  PutString(item, DCM_BitsStored, std::to_string(image.bits_stored));
  PutString(item, DCM_HighBit, std::to_string(image.bits_stored - 1));
  PutString(item, DCM_PixelRepresentation, image.is_signed ? "1" : "0");
}

void PutNativePixels(DcmItem& item, const GreyImage& image, const std::string& path) {
  const OFCondition status =
      item.putAndInsertUint16Array(DCM_PixelData, image.pixels.data(), static_cast<unsigned long>(image.pixels.size()));
  if (status.bad()) throw IoError(path, std::string("cannot store the pixel data: ") + status.text());
}

// Encapsulated pixel data: an empty basic offset table, then one fragment holding the frame.
void PutEncapsulatedPixels(DcmItem& item, const std::vector<uint8_t>& codestream, E_TransferSyntax transfer_syntax,
                           const std::string& path) {
  auto sequence = std::make_unique<DcmPixelSequence>(DCM_PixelSequenceTag);
  sequence->insert(new DcmPixelItem(DCM_PixelItemTag));
  auto fragment = std::make_unique<DcmPixelItem>(DCM_PixelItemTag);
  const OFCondition status = fragment->putUint8Array(codestream.data(), static_cast<Uint32>(codestream.size()));
  if (status.bad()) throw IoError(path, std::string("cannot store the compressed fragment: ") + status.text());
  sequence->insert(fragment.release());

  auto pixel_data = std::make_unique<DcmPixelData>(DCM_PixelData);
  pixel_data->putOriginalRepresentation(transfer_syntax, nullptr, sequence.release());
  const OFCondition inserted = item.insert(pixel_data.get(), true);
  if (inserted.bad()) throw IoError(path, std::string("cannot store the pixel data: ") + inserted.text());
  static_cast<void>(pixel_data.release());  // the item owns it now
}

E_TransferSyntax TransferSyntaxOf(Encoding encoding) {
  switch (encoding) {
    case Encoding::ExplicitLittle:
      return EXS_LittleEndianExplicit;
    case Encoding::JpegLsLossless:
      return EXS_JPEGLSLossless;
    case Encoding::Jpeg2000Lossless:
      return EXS_JPEG2000LosslessOnly;
  }
  return EXS_Unknown;
}

}  // namespace

void WriteDicomFile(DcmFileFormat& file, const GreyImage& image, const std::filesystem::path& path, Encoding encoding) {
  const std::string where = path.string();
  DcmDataset& dataset = *file.getDataset();
  PutPixelModule(dataset, image);

  const E_TransferSyntax transfer_syntax = TransferSyntaxOf(encoding);
  switch (encoding) {
    case Encoding::ExplicitLittle:
      PutNativePixels(dataset, image, where);
      break;
    case Encoding::JpegLsLossless:
      PutEncapsulatedPixels(dataset, EncodeJpegLsLossless(image, where), transfer_syntax, where);
      break;
    case Encoding::Jpeg2000Lossless:
      PutEncapsulatedPixels(dataset, EncodeJ2kLossless(image, where), transfer_syntax, where);
      break;
  }
  if (!dataset.canWriteXfer(transfer_syntax)) {
    throw IoError(where, std::string("DCMTK cannot write transfer syntax ") + DcmXfer(transfer_syntax).getXferName());
  }

  const OFCondition status = file.saveFile(where.c_str(), transfer_syntax, EET_ExplicitLength, EGL_recalcGL,
                                           EPD_noChange, 0, 0, EWM_fileformat);
  if (status.bad()) throw IoError(where, std::string("cannot write the DICOM file: ") + status.text());
}

}  // namespace medpipe::synth
