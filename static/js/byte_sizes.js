// Byte counts in binary IEC units, exactly as distribution/byte_sizes.py writes them on the pages:
// "1 byte", "1023 bytes", "1.0 KiB", "1.5 MiB" (a no-break space before the unit); one decimal,
// rounded half up.
window.fanoutSize = (function () {
  "use strict";
  const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  const SPACE = "\u00a0";

  function tenthsOf(size, exponent) {
    // size * 10 / 1024^exponent is exact in a double for any file a release holds,
    // and a tie (x.x5) is exactly representable, so Math.round rounds it up as Python does.
    return Math.round(size * 10 / Math.pow(1024, exponent));
  }

  return function humanSize(size) {
    if (size < 0) return "-" + humanSize(-size);
    if (size < 1024) return size + SPACE + (size === 1 ? "byte" : "bytes");
    let exponent = 1;
    while (exponent < UNITS.length && size >= Math.pow(1024, exponent + 1)) exponent += 1;
    let tenths = tenthsOf(size, exponent);
    if (tenths >= 10240 && exponent < UNITS.length) {
      exponent += 1;
      tenths = tenthsOf(size, exponent);
    }
    return Math.floor(tenths / 10) + "." + (tenths % 10) + SPACE + UNITS[exponent - 1];
  };
})();
