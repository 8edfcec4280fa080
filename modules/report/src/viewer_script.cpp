#include "slice_viewer.h"

namespace medpipe::report {
namespace {

// Starts a NiiVue viewer in every .viewer element from its JSON configuration and the review copy, masks
// and heat map that the series' data script put in window.medpipeReview; the state tests read is
// window.medpipeViewers and each viewer's data-slice / data-window / data-ready attributes.
constexpr const char* kViewerScript = R"JS(
(() => {
  'use strict';
  const kAxes = {sagittal: 0, coronal: 1, axial: 2};  // the RAS axis each plane's slices step along
  const kLayouts = {axial: 0, coronal: 1, sagittal: 2, multiplanar: 3};  // NiiVue's slice types
  const kHeatFade = 0.25;  // heat below this fades to clear, so the image stays readable under a cold map
  const kTranslucentBelowMin = 2;  // NiiVue's colormapType ZERO_TO_MAX_TRANSLUCENT_BELOW_MIN (not exported)
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

  // The heat map's colour map from the page's stops (the legend's): colours from 0 to the map's maximum,
  // fading to clear below kHeatFade (NiiVue's translucent-below-minimum) so a cold map leaves the image readable.
  const heatColours = heat => ({
    R: heat.colours.map(s => s.colour[0]), G: heat.colours.map(s => s.colour[1]), B: heat.colours.map(s => s.colour[2]),
    A: heat.colours.map(() => 255), I: heat.colours.map(s => Math.round(s.at * 255)),
  });

  async function start(root) {
    const config = JSON.parse(root.querySelector('.viewer-config').textContent);
    const part = name => root.querySelector('.viewer-' + name);
    const all = name => [...root.querySelectorAll('.viewer-' + name)];
    const inLayer = (name, layer) => all(name).filter(element => Number(element.dataset.layer) === layer);
    const data = (window.medpipeReview || {})[config.key];
    if (!window.niivue || !data) {
      part('status').textContent = (window.niivue ? 'The review copy did not load' : 'NiiVue did not load') +
          ': the pictures below are the static overlays.';
      return;
    }
    const drag = niivue.DRAG_MODE;
    const nv = new niivue.Niivue({backColor: [0, 0, 0, 1], crosshairColor: [1, 1, 0, 1], isRadiologicalConvention: true,
                                  logLevel: 'warn', dragModePrimary: config.flat ? drag.windowing : drag.crosshair,
                                  dragMode: drag.windowing, isOrientationTextVisible: !config.flat,
                                  // the three planes in a row, no 3-D render: NiiVue's automatic layout put a thin CT's
                                  // coronal and sagittal in clipped strips above the axial, beside a render tile
                                  multiplanarShowRender: niivue.SHOW_RENDER.NEVER, multiplanarLayout: niivue.MULTIPLANAR_TYPE.ROW});
    await nv.attachToCanvas(part('canvas'));
    const image = await niivue.NVImage.loadFromBase64({base64: data.image, name: config.key + '.nii.gz'});
    nv.addVolume(image);
    // Each segmentation a layer of its own: its mask volume, hidden labels, toggle and opacity.
    const layers = [];
    for (const [index, layerConfig] of config.layers.entries()) {
      const mask = await niivue.NVImage.loadFromBase64({base64: data.masks[index], name: `${config.key}_${index}_labels.nii.gz`,
                                                        opacity: 0.5});
      const layer = {...layerConfig, index, mask, hidden: new Set()};
      mask.setColormapLabel(labelTable(layer.labels, layer.hidden));
      nv.addVolume(mask);
      layers.push(layer);
    }
    let heat = null;
    if (config.heat) {
      nv.addColormap('medpipe-heat', heatColours(config.heat));
      heat = await niivue.NVImage.loadFromBase64({base64: data.heat, name: config.key + '_heat.nii.gz', colormap: 'medpipe-heat',
                                                  opacity: 0.6});
      heat.colormapType = kTranslucentBelowMin;
      heat.cal_min = kHeatFade * config.heat.scale;
      heat.cal_max = config.heat.scale;
      nv.addVolume(heat);
    }
    const indexOf = volume => nv.volumes.indexOf(volume);

    const dims = () => image.dimsRAS;
    const sliceOn = axis => Math.min(dims()[axis + 1] - 1, Math.max(0, Math.floor(nv.scene.crosshairPos[axis] * dims()[axis + 1])));
    const show = () => {
      if (config.flat) return;
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

    const showWindow = (low, high, name) => {
      part('window-text').textContent = `${name ? name + ': ' : ''}${Math.round(low)} to ${Math.round(high)}`;
      root.dataset.window = name || 'dragged';
      root.dataset.windowLow = low;
      root.dataset.windowHigh = high;
    };
    const setWindow = index => {
      const w = config.windows[index];
      const [low, high] = w.auto ? percentiles(image, w.low, w.high) : [w.level - w.width / 2, w.level + w.width / 2];
      image.cal_min = low;
      image.cal_max = high;
      nv.updateGLVolume();
      all('window').forEach(button => button.setAttribute('aria-pressed', String(Number(button.dataset.window) === index)));
      showWindow(low, high, w.name);
    };
    // A drag sets the window on the image (NiiVue's windowing), which the text then follows.
    const followDrag = () => {
      if (image.cal_min === Number(root.dataset.windowLow) && image.cal_max === Number(root.dataset.windowHigh)) return;
      all('window').forEach(button => button.setAttribute('aria-pressed', 'false'));
      showWindow(image.cal_min, image.cal_max, '');
    };
    part('canvas').addEventListener('mouseup', followDrag);
    const setLayerOpacity = layer => {
      const shown = inLayer('layer', layer.index)[0].checked;
      nv.setOpacity(indexOf(layer.mask), shown ? inLayer('opacity', layer.index)[0].value / 100 : 0);
    };
    const setHeatOpacity = () => {
      if (heat) nv.setOpacity(indexOf(heat), part('heat-toggle').checked ? part('heat-opacity').value / 100 : 0);
    };
    // NiiVue sizes the crosshair in voxels (thick bars over a small crop shown large): keep it near 1.5
    // screen pixels for the layout and zoom shown.
    const fitCrosshair = () => {
      const tile = nv.screenSlices[0];
      if (config.flat || !tile) return;
      const pixelsPerMm = tile.leftTopWidthHeight[2] / Math.abs(tile.fovMM[0]);
      const voxelMm = Math.min(...image.pixDims.slice(1, 4));
      nv.setCrosshairWidth(Math.min(1, 1.5 / (voxelMm * pixelsPerMm)));
    };
    const zoom = factor => {
      const [x, y, z, scale] = nv.scene.pan2Dxyzmm;
      nv.setPan2Dxyzmm(factor ? [x, y, z, scale * factor] : [0, 0, 0, 1]);
      fitCrosshair();
    };

    if (!config.flat) {
      part('layout').addEventListener('change', () => {
        const layout = part('layout').value;
        nv.setSliceType(kLayouts[layout]);
        fitCrosshair();
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
    }
    all('window').forEach(button => button.addEventListener('click', () => setWindow(Number(button.dataset.window))));
    all('zoom').forEach(button => button.addEventListener('click', () => zoom(Number(button.dataset.zoom))));
    for (const layer of layers) {
      inLayer('layer', layer.index)[0].addEventListener('change', () => setLayerOpacity(layer));
      inLayer('opacity', layer.index)[0].addEventListener('input', () => setLayerOpacity(layer));
      inLayer('label', layer.index).forEach(box => box.addEventListener('change', () => {
        const value = Number(box.dataset.label);
        if (box.checked) layer.hidden.delete(value); else layer.hidden.add(value);
        layer.mask.setColormapLabel(labelTable(layer.labels, layer.hidden));
        nv.updateGLVolume();
      }));
      inLayer('jump', layer.index).forEach(button => button.addEventListener('click', () => {
        const [x, y, z] = layer.labels.find(l => l.value === Number(button.dataset.label)).centroid_lps_mm;
        nv.scene.crosshairPos = nv.mm2frac([-x, -y, z]);  // NiiVue works in RAS
        nv.drawScene();
        show();
      }));
      inLayer('swatch', layer.index).forEach(swatch => {
        const label = layer.labels.find(l => l.value === Number(swatch.dataset.label));
        swatch.style.backgroundColor = `rgb(${label.colour.join(',')})`;
      });
    }
    if (heat) {
      part('heat-toggle').addEventListener('change', setHeatOpacity);
      part('heat-opacity').addEventListener('input', setHeatOpacity);
    }

    const degrees = tilt(image);
    if (degrees > 0.5 && !config.flat) {
      part('oblique').hidden = false;
      part('oblique').textContent = `Oblique series: its slices are tilted ${degrees.toFixed(1)}\u00b0 from the patient axes; ` +
          'axial, coronal and sagittal here are the nearest planes, resliced.';
    }
    if (config.flat) nv.setCrosshairWidth(0);
    nv.setSliceType(config.flat ? kLayouts.axial : kLayouts.multiplanar);
    fitCrosshair();
    new ResizeObserver(fitCrosshair).observe(part('canvas'));
    setWindow(config.default_window);
    layers.forEach(setLayerOpacity);
    setHeatOpacity();
    show();
    part('status').hidden = true;
    window.medpipeViewers[config.key] = {nv, image, layers, heat, root};
    root.dataset.ready = 'true';
  }

  for (const root of document.querySelectorAll('.viewer')) {
    start(root).catch(error => {
      root.querySelector('.viewer-status').textContent = 'The viewer failed: ' + error.message;
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
