// actions/cache/save stand-in: the save half of ../cache.js.
process.env.CACHE_STANDIN_MODE = "save";
require("../cache.js");
