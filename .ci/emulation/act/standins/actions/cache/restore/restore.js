// actions/cache/restore stand-in: the restore half of ../cache.js.
process.env.CACHE_STANDIN_MODE = "restore";
require("../cache.js");
