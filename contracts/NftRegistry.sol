// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/**
 * @title NftRegistry
 * @notice Asset-ownership registry: one ERC-721 token per asset content hash (SHA-256 of the
 * asset's bytes), `tokenURI = ipfs://<metadata CID>`. Tokens are minted directly by minters,
 * claimed from Merkle batches anchored by anchorers, or redeemed from EIP-712 vouchers signed
 * by minters.
 *
 * Claim leaves are OpenZeppelin StandardMerkleTree leaves with encoding
 * `["address", "bytes32", "string"]` = (owner, contentHash, metadataCid):
 * `keccak256(bytes.concat(keccak256(abi.encode(owner, contentHash, metadataCid))))`.
 *
 * Every state change emits an event, so an off-chain index can be rebuilt from logs.
 */
contract NftRegistry is ERC721, ERC2981, AccessControl, EIP712, IERC4906 {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("MintVoucher(address to,bytes32 contentHash,string metadataCid,uint256 uid,uint256 deadline)");

    struct MintVoucher {
        address to;
        bytes32 contentHash;
        string metadataCid;
        uint256 uid;
        uint256 deadline;
    }

    struct ClaimLeaf {
        address owner;
        bytes32 contentHash;
        string metadataCid;
    }

    struct AnchorInfo {
        string treeCid;
        uint64 blockNumber;
        address anchorer;
    }

    uint256 private _nextTokenId = 1;
    mapping(uint256 tokenId => bytes32) private _contentHashOf;
    mapping(bytes32 contentHash => uint256) private _tokenOfContent;
    mapping(uint256 tokenId => string) private _metadataCid;
    mapping(bytes32 root => AnchorInfo) private _anchors;
    mapping(bytes32 root => mapping(bytes32 leaf => bool)) private _claimed;
    mapping(uint256 uid => bool) private _usedVoucher;

    /// @dev The content hash is already registered as `tokenId`.
    error ContentAlreadyRegistered(bytes32 contentHash, uint256 tokenId);
    error EmptyContentHash();
    error EmptyMetadataCid();
    error RootAlreadyAnchored(bytes32 root);
    error UnknownRoot(bytes32 root);
    error InvalidProof(bytes32 root);
    error LeafAlreadyClaimed(bytes32 root, bytes32 leaf);
    error VoucherExpired(uint256 deadline, uint256 timestamp);
    error VoucherAlreadyUsed(uint256 uid);
    error InvalidVoucherSigner(address signer);
    error LengthMismatch(uint256 owners, uint256 contentHashes, uint256 metadataCids);

    event Registered(uint256 indexed tokenId, address indexed owner, bytes32 indexed contentHash, string metadataCid);
    event Anchored(bytes32 indexed root, string treeCid, address indexed anchorer);
    event Claimed(bytes32 indexed root, bytes32 indexed leaf, uint256 indexed tokenId);
    event VoucherRedeemed(uint256 indexed uid, address indexed signer, uint256 indexed tokenId);
    event MetadataCidUpdated(uint256 indexed tokenId, string metadataCid);

    /**
     * @param admin receives DEFAULT_ADMIN_ROLE, MINTER_ROLE and ANCHOR_ROLE.
     * @param royaltyReceiver ERC-2981 default receiver (zero address: no royalty).
     */
    constructor(
        string memory name_,
        string memory symbol_,
        address admin,
        address royaltyReceiver,
        uint96 royaltyBps
    ) ERC721(name_, symbol_) EIP712(name_, "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
        _grantRole(ANCHOR_ROLE, admin);
        if (royaltyReceiver != address(0)) {
            _setDefaultRoyalty(royaltyReceiver, royaltyBps);
        }
    }

    // ---------------------------------------------------------------- minting

    /**
     * @notice Mint the token of `contentHash` to `to`.
     *
     * Requirements: caller has MINTER_ROLE; `contentHash` not registered; `metadataCid` non-empty.
     *
     * Emits {Registered} and {Transfer}.
     */
    function mint(address to, bytes32 contentHash, string calldata metadataCid)
        external
        onlyRole(MINTER_ROLE)
        returns (uint256)
    {
        return _register(to, contentHash, metadataCid);
    }

    /**
     * @notice Mint several tokens in one transaction: `to[i]` gets the token of `contentHashes[i]`
     * with `metadataCids[i]`. All or nothing: one registered hash reverts the whole call.
     *
     * Requirements: as {mint} for every item; the three arrays have one length.
     *
     * Emits {Registered} and {Transfer} per item, in order.
     */
    function mintBatch(address[] calldata to, bytes32[] calldata contentHashes, string[] calldata metadataCids)
        external
        onlyRole(MINTER_ROLE)
        returns (uint256 firstTokenId)
    {
        uint256 n = to.length;
        if (contentHashes.length != n || metadataCids.length != n) {
            revert LengthMismatch(n, contentHashes.length, metadataCids.length);
        }
        firstTokenId = _nextTokenId;
        for (uint256 i = 0; i < n; ++i) {
            _register(to[i], contentHashes[i], metadataCids[i]);
        }
    }

    /**
     * @notice Anchor a batch: record a StandardMerkleTree root and the CID of its dump.
     *
     * Requirements: caller has ANCHOR_ROLE; the root is not anchored yet.
     *
     * Emits {Anchored}.
     */
    function anchor(bytes32 root, string calldata treeCid) external onlyRole(ANCHOR_ROLE) {
        if (_anchors[root].blockNumber != 0) revert RootAlreadyAnchored(root);
        _anchors[root] = AnchorInfo(treeCid, uint64(block.number), msg.sender);
        emit Anchored(root, treeCid, msg.sender);
    }

    /**
     * @notice Claim (lazily mint) the token of one leaf of an anchored batch. Anyone may send
     * the claim; the token always goes to the owner named in the leaf.
     *
     * Requirements: `root` anchored; `proof` valid; the leaf not claimed before; the content
     * hash not registered.
     *
     * Emits {Claimed}, {Registered} and {Transfer}.
     */
    function claim(
        bytes32 root,
        address owner,
        bytes32 contentHash,
        string calldata metadataCid,
        bytes32[] calldata proof
    ) external returns (uint256) {
        if (_anchors[root].blockNumber == 0) revert UnknownRoot(root);
        bytes32 leaf = leafHash(owner, contentHash, metadataCid);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof(root);
        return _claimLeaf(root, leaf, owner, contentHash, metadataCid);
    }

    /**
     * @notice Claim many leaves of one anchored batch with one multiproof.
     *
     * Requirements: as {claim}, for every leaf; `leaves` in the order the multiproof expects.
     */
    function claimMany(
        bytes32 root,
        ClaimLeaf[] calldata leaves,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external returns (uint256[] memory tokenIds) {
        if (_anchors[root].blockNumber == 0) revert UnknownRoot(root);
        if (leaves.length == 0) revert InvalidProof(root);
        bytes32[] memory hashes = new bytes32[](leaves.length);
        for (uint256 i = 0; i < leaves.length; ++i) {
            hashes[i] = leafHash(leaves[i].owner, leaves[i].contentHash, leaves[i].metadataCid);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, hashes)) revert InvalidProof(root);
        tokenIds = new uint256[](leaves.length);
        for (uint256 i = 0; i < leaves.length; ++i) {
            tokenIds[i] = _claimLeaf(root, hashes[i], leaves[i].owner, leaves[i].contentHash, leaves[i].metadataCid);
        }
    }

    /**
     * @notice Redeem an EIP-712 voucher signed by a minter (domain bound to this chain and
     * contract).
     *
     * Requirements: `block.timestamp <= deadline`; `uid` unused; signer has MINTER_ROLE.
     *
     * Emits {VoucherRedeemed}, {Registered} and {Transfer}.
     */
    function redeem(MintVoucher calldata voucher, bytes calldata signature) external returns (uint256 tokenId) {
        if (block.timestamp > voucher.deadline) revert VoucherExpired(voucher.deadline, block.timestamp);
        if (_usedVoucher[voucher.uid]) revert VoucherAlreadyUsed(voucher.uid);
        address signer = ECDSA.recover(voucherDigest(voucher), signature);
        if (!hasRole(MINTER_ROLE, signer)) revert InvalidVoucherSigner(signer);
        _usedVoucher[voucher.uid] = true;
        tokenId = _register(voucher.to, voucher.contentHash, voucher.metadataCid);
        emit VoucherRedeemed(voucher.uid, signer, tokenId);
    }

    /**
     * @notice Point a token at new metadata (e.g. corrected attributes).
     *
     * Requirements: caller has MINTER_ROLE; the token exists.
     *
     * Emits {MetadataCidUpdated} and EIP-4906 {MetadataUpdate}.
     */
    function setMetadataCid(uint256 tokenId, string calldata metadataCid) external onlyRole(MINTER_ROLE) {
        _requireOwned(tokenId);
        if (bytes(metadataCid).length == 0) revert EmptyMetadataCid();
        _metadataCid[tokenId] = metadataCid;
        emit MetadataCidUpdated(tokenId, metadataCid);
        emit MetadataUpdate(tokenId);
    }

    // ---------------------------------------------------------------- views

    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return string.concat("ipfs://", _metadataCid[tokenId]);
    }

    function contentHashOf(uint256 tokenId) external view returns (bytes32) {
        _requireOwned(tokenId);
        return _contentHashOf[tokenId];
    }

    /// @notice Token of a content hash, or 0 when unregistered (token ids start at 1).
    function tokenOfContent(bytes32 contentHash) external view returns (uint256) {
        return _tokenOfContent[contentHash];
    }

    function metadataCidOf(uint256 tokenId) external view returns (string memory) {
        _requireOwned(tokenId);
        return _metadataCid[tokenId];
    }

    function anchorOf(bytes32 root) external view returns (AnchorInfo memory) {
        return _anchors[root];
    }

    function isClaimed(bytes32 root, bytes32 leaf) external view returns (bool) {
        return _claimed[root][leaf];
    }

    function isVoucherUsed(uint256 uid) external view returns (bool) {
        return _usedVoucher[uid];
    }

    function totalMinted() external view returns (uint256) {
        return _nextTokenId - 1;
    }

    function leafHash(address owner, bytes32 contentHash, string calldata metadataCid) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(owner, contentHash, metadataCid))));
    }

    function voucherDigest(MintVoucher calldata v) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(VOUCHER_TYPEHASH, v.to, v.contentHash, keccak256(bytes(v.metadataCid)), v.uid, v.deadline))
        );
    }

    /// @notice OpenZeppelin `MerkleProof.verify`, exposed so off-chain results can be compared.
    function verifyProof(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice OpenZeppelin `MerkleProof.multiProofVerify`, exposed for the same reason.
    function verifyMultiProof(bytes32 root, bytes32[] calldata proof, bool[] calldata proofFlags, bytes32[] calldata leaves)
        external
        pure
        returns (bool)
    {
        return MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, ERC2981, AccessControl, IERC165)
        returns (bool)
    {
        return interfaceId == bytes4(0x49064906) || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internals

    function _claimLeaf(bytes32 root, bytes32 leaf, address owner, bytes32 contentHash, string calldata metadataCid)
        private
        returns (uint256 tokenId)
    {
        if (_claimed[root][leaf]) revert LeafAlreadyClaimed(root, leaf);
        _claimed[root][leaf] = true;
        tokenId = _register(owner, contentHash, metadataCid);
        emit Claimed(root, leaf, tokenId);
    }

    /// @dev The one chokepoint where tokens come into existence: one content hash, one token.
    function _register(address to, bytes32 contentHash, string calldata metadataCid) private returns (uint256 tokenId) {
        if (contentHash == bytes32(0)) revert EmptyContentHash();
        if (bytes(metadataCid).length == 0) revert EmptyMetadataCid();
        uint256 existing = _tokenOfContent[contentHash];
        if (existing != 0) revert ContentAlreadyRegistered(contentHash, existing);
        tokenId = _nextTokenId++;
        _contentHashOf[tokenId] = contentHash;
        _tokenOfContent[contentHash] = tokenId;
        _metadataCid[tokenId] = metadataCid;
        _mint(to, tokenId);
        emit Registered(tokenId, to, contentHash, metadataCid);
    }
}
