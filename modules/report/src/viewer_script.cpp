#include "slice_viewer.h"

namespace medpipe::report {
namespace {

// Starts a NiiVue viewer in every .viewer element from its JSON configuration and the review copy that
// the series' data script put in window.medpipeReview; the state tests read is window.medpipeViewers
// and each viewer's data-slice / data-window / data-ready attributes.
constexpr const char* kViewerScript = R"JS(
(() => {
  'use strict';
  const kAxes = {sagittal: 0, coronal: 1, axial: 2};  // the RAS axis each plane's slices step along
  const kLayouts = {axial: 0, coronal: 1, sagittal: 2, multiplanar: 3};  // NiiVue's slice types
  window.medpipeViewers = {};

  const percentiles = (image, low, high) => {
    const data = image.img, step = Math.max(1, Math.floor(data.length / 1e6));
    const slope = image.hdr.scl_slope || 1, intercept = image.hdr.scl_inter || 0;
    const sample = [];
    for (let i = 0; i < data.length; i += step) sample.push(data[i] * slope + intercept);
    sample.sort((a, b) => a - b);
    const at = p => sample[Math.min(sample.length - 1, Math.floor(p * (sample.length - 1)))];
    return [at(low), at(high)];
  };

  // Degrees between the voxel axes and their nearest patient axes: 0 when the series is not oblique.
  const tilt = image => {
    const affine = image.hdr.affine;
    let worst = 0;
    for (let c = 0; c < 3; ++c) {
      const column = [affine[0][c], affine[1][c], affine[2][c]];
      const norm = Math.hypot(...column);
      if (norm > 0) worst = Math.max(worst, Math.acos(Math.min(1, Math.max(...column.map(Math.abs)) / norm)) * 180 / Math.PI);
    }
    return worst;
  };

  const labelTable = (labels, hidden) => ({
    R: [0, ...labels.map(l => l.colour[0])],
    G: [0, ...labels.map(l => l.colour[1])],
    B: [0, ...labels.map(l => l.colour[2])],
    A: [0, ...labels.map(l => (hidden.has(l.value) ? 0 : 255))],
    I: [0, ...labels.map(l => l.value)],
    labels: ['', ...labels.map(l => l.name)],
  });

  async function start(root) {
    const config = JSON.parse(root.querySelector('.viewer-config').textContent);
    const part = name => root.querySelector('.viewer-' + name);
    const all = name => [...root.querySelectorAll('.viewer-' + name)];
    const data = (window.medpipeReview || {})[config.key];
    if (!window.niivue || !data) {
      part('status').textContent = (window.niivue ? 'The review copy did not load' : 'NiiVue did not load') +
          ': the pictures below are the static overlays.';
      return;
    }
    const drag = niivue.DRAG_MODE;
    const nv = new niivue.Niivue({backColor: [0, 0, 0, 1], crosshairColor: [1, 1, 0, 1], isRadiologicalConvention: true,
                                  logLevel: 'warn', mouseEventConfig: {leftButton: {primary: drag.crosshair},
                                                                       rightButton: drag.contrast, centerButton: drag.pan}});
    await nv.attachToCanvas(part('canvas'));
    const image = await niivue.NVImage.loadFromBase64({base64: data.image, name: config.key + '.nii.gz'});
    nv.addVolume(image);
    const hidden = new Set();
    let mask = null;
    if (data.mask) {
      mask = await niivue.NVImage.loadFromBase64({base64: data.mask, name: config.key + '_labels.nii.gz', opacity: 0.5});
      mask.setColormapLabel(labelTable(config.labels, hidden));
      nv.addVolume(mask);
    }

    const dims = () => image.dimsRAS;
    const sliceOn = axis => Math.min(dims()[axis + 1] - 1, Math.max(0, Math.floor(nv.scene.crosshairPos[axis] * dims()[axis + 1])));
    const show = () => {
      const plane = part('plane').value, axis = kAxes[plane], count = dims()[axis + 1], slice = sliceOn(axis);
      part('slice').max = count - 1;
      part('slice').value = slice;
      part('slice-text').textContent = `${plane} ${slice + 1} / ${count}`;
      root.dataset.slice = slice;
    };
    const goTo = (axis, slice) => {
      const count = dims()[axis + 1];
      const position = [...nv.scene.crosshairPos];
      position[axis] = (Math.min(count - 1, Math.max(0, slice)) + 0.5) / count;
      nv.scene.crosshairPos = position;
      nv.drawScene();
      show();
    };
    const step = delta => goTo(kAxes[part('plane').value], sliceOn(kAxes[part('plane').value]) + delta);
    nv.onLocationChange = show;

    const setWindow = index => {
      const w = config.windows[index];
      const [low, high] = w.auto ? percentiles(image, 0.02, 0.98) : [w.level - w.width / 2, w.level + w.width / 2];
      image.cal_min = low;
      image.cal_max = high;
      nv.updateGLVolume();
      all('window').forEach(button => button.setAttribute('aria-pressed', String(Number(button.dataset.window) === index)));
      part('window-text').textContent = `${Math.round(low)} to ${Math.round(high)}`;
      root.dataset.window = w.name;
    };
    const setOpacity = () => {
      if (mask) nv.setOpacity(1, part('overlay').checked ? part('opacity').value / 100 : 0);
    };
    const zoom = factor => {
      const [x, y, z, scale] = nv.scene.pan2Dxyzmm;
      nv.setPan2Dxyzmm(factor ? [x, y, z, scale * factor] : [0, 0, 0, 1]);
    };

    part('layout').addEventListener('change', () => {
      const layout = part('layout').value;
      nv.setSliceType(kLayouts[layout]);
      if (layout in kAxes) part('plane').value = layout;
      show();
    });
    part('plane').addEventListener('change', show);
    part('slice').addEventListener('input', () => goTo(kAxes[part('plane').value], Number(part('slice').value)));
    part('canvas').addEventListener('keydown', event => {
      const delta = {ArrowUp: 1, ArrowRight: 1, PageUp: 1, ArrowDown: -1, ArrowLeft: -1, PageDown: -1}[event.key];
      if (!delta) return;
      event.preventDefault();
      step(delta);
    });
    all('window').forEach(button => button.addEventListener('click', () => setWindow(Number(button.dataset.window))));
    all('zoom').forEach(button => button.addEventListener('click', () => zoom(Number(button.dataset.zoom))));
    if (mask) {
      part('overlay').addEventListener('change', setOpacity);
      part('opacity').addEventListener('input', setOpacity);
      all('label').forEach(box => box.addEventListener('change', () => {
        const value = Number(box.dataset.label);
        if (box.checked) hidden.delete(value); else hidden.add(value);
        mask.setColormapLabel(labelTable(config.labels, hidden));
        nv.updateGLVolume();
      }));
      all('jump').forEach(button => button.addEventListener('click', () => {
        const [x, y, z] = config.labels.find(l => l.value === Number(button.dataset.label)).centroid_lps_mm;
        nv.scene.crosshairPos = nv.mm2frac([-x, -y, z]);  // NiiVue works in RAS
        nv.drawScene();
        show();
      }));
    }
    all('swatch').forEach(swatch => {
      const label = config.labels.find(l => l.value === Number(swatch.dataset.label));
      swatch.style.backgroundColor = `rgb(${label.colour.join(',')})`;
    });

    const degrees = tilt(image);
    if (degrees > 0.5) {
      part('oblique').hidden = false;
      part('oblique').textContent = `Oblique series: its slices are tilted ${degrees.toFixed(1)}\u00b0 from the patient axes; ` +
          'axial, coronal and sagittal here are the nearest planes, resliced.';
    }
    nv.setSliceType(kLayouts.multiplanar);
    setWindow(config.default_window);
    setOpacity();
    show();
    part('status').hidden = true;
    window.medpipeViewers[config.key] = {nv, image, mask, root};
    root.dataset.ready = 'true';
  }

  for (const root of document.querySelectorAll('.viewer')) {
    start(root).catch(error => {
      root.querySelector('.viewer-status').textContent = 'The slice viewer failed: ' + error.message;
      root.dataset.ready = 'failed';
    });
  }
})();
)JS";

}  // namespace

const std::string& ViewerScript() {
  static const std::string script = kViewerScript;
  return script;
}

}  // namespace medpipe::report
