// The local chain of naap's offline Streamr environment (hardhat node,
// chainId 31337); nothing is compiled here.
module.exports = { solidity: "0.8.9", networks: { hardhat: { chainId: 31337 } } };
