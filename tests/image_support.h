#pragma once
// Geometry shorthands for tests that build ITK images by hand.
#include <cmath>

#include "medpipe/core/volume.h"

namespace medpipe::testing {

inline Image3D::SpacingType Spacing(double x, double y, double z) {
  Image3D::SpacingType spacing;
  spacing[0] = x, spacing[1] = y, spacing[2] = z;
  return spacing;
}

inline Image3D::PointType Point(double x, double y, double z) {
  Image3D::PointType point;
  point[0] = x, point[1] = y, point[2] = z;
  return point;
}

inline Image3D::DirectionType Identity() {
  Image3D::DirectionType identity;
  identity.SetIdentity();
  return identity;
}

// A rotation about z, then about x, in degrees.
inline Image3D::DirectionType Rotation(double about_z_deg, double about_x_deg) {
  const double z = about_z_deg * M_PI / 180, x = about_x_deg * M_PI / 180;
  Image3D::DirectionType rz = Identity(), rx = Identity();
  rz(0, 0) = std::cos(z), rz(0, 1) = -std::sin(z), rz(1, 0) = std::sin(z), rz(1, 1) = std::cos(z);
  rx(1, 1) = std::cos(x), rx(1, 2) = -std::sin(x), rx(2, 1) = std::sin(x), rx(2, 2) = std::cos(x);
  return rz * rx;
}

}  // namespace medpipe::testing
