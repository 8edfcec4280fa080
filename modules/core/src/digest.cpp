#include "medpipe/core/digest.h"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <memory>

#include "medpipe/core/error.h"

namespace medpipe {
namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(const void* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  std::string HexDigest() {
    static const char* kHex = "0123456789abcdef";
    std::string hex;
    for (const unsigned char byte : Digest()) {
      hex += kHex[byte >> 4];
      hex += kHex[byte & 15];
    }
    return hex;
  }
  std::string Base64Digest() {
    const std::string digest = Digest();
    std::string base64(4 * ((digest.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()),
                                       reinterpret_cast<const unsigned char*>(digest.data()), static_cast<int>(digest.size()));
    base64.resize(length);
    return base64;
  }

 private:
  std::string Digest() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size);
    return std::string(reinterpret_cast<const char*>(digest.data()), size);
  }

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return sha.HexDigest();
}

std::string Sha256Base64(const std::string& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return sha.Base64Digest();
}

std::string Sha256File(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), "cannot open file for hashing");
  Sha256 sha;
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    sha.Update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  return sha.HexDigest();
}

std::string ShortId(const std::string& uid) { return Sha256Hex(uid).substr(0, 16); }

}  // namespace medpipe
