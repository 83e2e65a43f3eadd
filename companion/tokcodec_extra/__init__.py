"""tokcodec-extra: tokcodec's retired models (tc-2, tc-2-lfq, tc-small-1 and their rungs, the prior
mlm-tc-2) and the LPIPS-VGG weights of training and DISTS. Nothing to import: tokcodec finds this
package's registry.json and weights/ (tokcodec.companion) and decodes old files with them."""
