// Merged into @jupyter/builder's configuration (package.json "jupyterlab.webpackConfig").
// Module ids named from paths relative to this directory: rspack's default ("deterministic")
// hashes the module federation container's identifier, which holds absolute paths, so the
// bundle would differ with the directory it is built in and CI could not compare it.
module.exports = {
  optimization: {
    moduleIds: 'named'
  }
};
