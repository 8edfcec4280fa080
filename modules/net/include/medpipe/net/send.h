#pragma once
// C-STORE SCU: puts DICOM files into a PACS (medpipe's SEG, RTSTRUCT and SR after a study is done).
#include <filesystem>
#include <vector>

#include "medpipe/net/peer.h"

namespace medpipe::net {

// Stores FILES on PEER over one association, each in its own transfer syntax or, if the peer does not
// take that, converted to explicit little endian. Retried with backoff (SETTINGS) as a whole when the
// connection fails or drops, which stores nothing twice (the PACS keeps one object per SOP Instance
// UID). Throws NetworkError naming the peer and, for a refused object, the file and DICOM status.
void SendFiles(const Peer& peer, const NetSettings& settings, const std::vector<std::filesystem::path>& files);

}  // namespace medpipe::net
