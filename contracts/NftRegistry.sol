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
 * Registration log (python/nftreg/log): anchorers record checkpoint roots of the public
 * RFC 6962 / C2SP tlog-tiles log at strictly increasing tree sizes ({anchorLog}); anyone can
 * then mint the token of a private (off-chain, kind 2) registration by presenting the entry and
 * its RFC 9162 inclusion proof against an anchored root ({mintWithLogProof}).
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
    mapping(uint64 treeSize => bytes32) private _logRoots;
    uint64 private _logSize; // latest anchored log size (0: none yet)
    uint64 private _logTime; // block timestamp of that anchor

    // v1 registration-log entry (python/nftreg/log/entry.py): fixed offsets, big-endian.
    uint256 private constant LOG_HEADER = 165; // bytes before the metadata CID
    uint8 private constant LOG_VERSION = 1;
    uint8 private constant LOG_KIND_PRIVATE = 2;

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
    /// @dev Log anchors only move forward: `given` is not above the last anchored size.
    error LogSizeNotIncreasing(uint64 last, uint64 given);
    error EmptyLogRoot();
    /// @dev No log root is anchored at `treeSize`.
    error UnknownLogSize(uint64 treeSize);
    /// @dev The inclusion proof does not place the entry at `index` in the anchored tree.
    error InvalidLogProof(uint64 index, uint64 treeSize);
    /// @dev The entry is not a v1 registration-log entry as `LogEntry.encode` writes it.
    error MalformedLogEntry(string reason);
    /// @dev Only private (off-chain, kind 2) registrations can be minted from the log.
    error NotALogRegistration(uint8 kind);
    error LogEntryWrongChain(uint64 entryChainId, uint256 chainId);
    error LogEntryWrongContract(address entryContract, address registry);
    /// @dev The metadata CID argument differs from the one the entry names.
    error LogMetadataCidMismatch(string entryCid, string given);
    /// @dev The entry names no metadata CID, so only its owner may mint it (choosing the CID).
    error NotLogEntryOwner(address owner, address sender);

    event Registered(uint256 indexed tokenId, address indexed owner, bytes32 indexed contentHash, string metadataCid);
    event Anchored(bytes32 indexed root, string treeCid, address indexed anchorer);
    event Claimed(bytes32 indexed root, bytes32 indexed leaf, uint256 indexed tokenId);
    event VoucherRedeemed(uint256 indexed uid, address indexed signer, uint256 indexed tokenId);
    event MetadataCidUpdated(uint256 indexed tokenId, string metadataCid);
    event LogAnchored(uint64 indexed treeSize, bytes32 rootHash, uint64 timestamp);
    event MintedFromLog(uint256 indexed tokenId, uint64 indexed logIndex, uint64 treeSize);

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

    // ---------------------------------------------------------------- registration log

    /**
     * @notice Anchor a checkpoint of the registration log: its tree size and RFC 6962 root.
     *
     * Requirements: caller has ANCHOR_ROLE; `treeSize` above the last anchored size (so the
     * same checkpoint is never anchored twice); `rootHash` non-zero. Consistency between
     * anchors is what `nftreg log monitor` checks off-chain (consistency proofs).
     *
     * Emits {LogAnchored}.
     */
    function anchorLog(uint64 treeSize, bytes32 rootHash) external onlyRole(ANCHOR_ROLE) {
        uint64 last = _logSize;
        if (treeSize <= last) revert LogSizeNotIncreasing(last, treeSize);
        if (rootHash == bytes32(0)) revert EmptyLogRoot();
        _logRoots[treeSize] = rootHash;
        (_logSize, _logTime) = (treeSize, uint64(block.timestamp));
        emit LogAnchored(treeSize, rootHash, uint64(block.timestamp));
    }

    /**
     * @notice Mint the token of a private registration (entry kind 2) recorded in the log:
     * anyone may send it (the owner or a relayer); the token goes to the entry's owner with
     * the entry's content hash.
     *
     * The metadata CID: when the entry names one, `metadataCid` must be empty or equal to it
     * and the token gets the entry's; when the entry names none, only the entry's owner may
     * mint and `metadataCid` (non-empty) is used.
     *
     * Requirements: `entry` is a canonical v1 entry of kind 2 naming no token id; its chain id,
     * when non-zero, is this chain's and its contract, when present, is this contract;
     * `treeSize` is an anchored size and `proof` the RFC 9162 inclusion proof of `entry` at
     * `index` in that tree; the content hash is not registered.
     *
     * Emits {Registered}, {Transfer} and {MintedFromLog}.
     */
    function mintWithLogProof(
        bytes calldata entry,
        uint64 index,
        uint64 treeSize,
        bytes32[] calldata proof,
        string calldata metadataCid
    ) external returns (uint256 tokenId) {
        (address owner, bytes32 contentHash, string calldata entryCid) = _readPrivateEntry(entry);
        bytes32 root = _logRoots[treeSize];
        if (root == bytes32(0)) revert UnknownLogSize(treeSize);
        if (!_verifyInclusion(logLeafHash(entry), index, treeSize, proof, root)) revert InvalidLogProof(index, treeSize);
        string calldata cid = entryCid;
        if (bytes(entryCid).length != 0) {
            if (bytes(metadataCid).length != 0 && keccak256(bytes(metadataCid)) != keccak256(bytes(entryCid))) {
                revert LogMetadataCidMismatch(entryCid, metadataCid);
            }
        } else {
            if (msg.sender != owner) revert NotLogEntryOwner(owner, msg.sender);
            cid = metadataCid;
        }
        tokenId = _register(owner, contentHash, cid);
        emit MintedFromLog(tokenId, index, treeSize);
    }

    /// @notice Root anchored at `treeSize`, or zero when that size was never anchored.
    function logRootAt(uint64 treeSize) external view returns (bytes32) {
        return _logRoots[treeSize];
    }

    /// @notice The latest anchor (all zero before the first).
    function latestLogAnchor() external view returns (uint64 treeSize, bytes32 rootHash, uint64 timestamp) {
        treeSize = _logSize;
        return (treeSize, _logRoots[treeSize], _logTime);
    }

    /// @notice RFC 6962 leaf hash of a log entry: SHA-256(0x00 || entry).
    function logLeafHash(bytes calldata entry) public pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), entry));
    }

    /// @notice Whether `proof` places `entry` at `index` in the log tree of `treeSize` with
    /// `root` (RFC 9162 section 2.1.3.2), exposed so off-chain verifiers can be compared.
    function verifyLogInclusion(bytes calldata entry, uint64 index, uint64 treeSize, bytes32[] calldata proof, bytes32 root)
        external
        pure
        returns (bool)
    {
        return _verifyInclusion(logLeafHash(entry), index, treeSize, proof, root);
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

    /// @dev RFC 9162 section 2.1.3.2: recompute the root from the leaf and the audit path.
    function _verifyInclusion(bytes32 leaf, uint256 index, uint256 size, bytes32[] calldata proof, bytes32 root)
        private
        pure
        returns (bool)
    {
        if (index >= size) return false;
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = sha256(abi.encodePacked(bytes1(0x01), proof[i], r));
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = sha256(abi.encodePacked(bytes1(0x01), r, proof[i]));
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    /// @dev Fields of a canonical v1 private-registration entry, read at their fixed offsets;
    /// refuses what `LogEntry.decode` refuses (except the CID's character set) and binds the
    /// entry to this chain and contract when it names them.
    function _readPrivateEntry(bytes calldata entry)
        private
        view
        returns (address owner, bytes32 contentHash, string calldata cid)
    {
        if (entry.length < LOG_HEADER) revert MalformedLogEntry("shorter than the 165-byte header");
        uint256 w0;
        uint256 contractWord;
        uint256 tokenWord;
        uint256 txWord;
        uint256 blockWord;
        uint256 cidLen;
        assembly ("memory-safe") {
            let o := entry.offset
            w0 := calldataload(o) // version(1) kind(1) flags(1) chainId(8) ...
            contractWord := shr(96, calldataload(add(o, 11)))
            tokenWord := calldataload(add(o, 31))
            owner := shr(96, calldataload(add(o, 63)))
            contentHash := calldataload(add(o, 83))
            txWord := calldataload(add(o, 115))
            blockWord := shr(192, calldataload(add(o, 147)))
            cidLen := shr(240, calldataload(add(o, 163)))
        }
        if (uint8(w0 >> 248) != LOG_VERSION) revert MalformedLogEntry("unknown format version");
        uint8 kind = uint8(w0 >> 240);
        if (kind != LOG_KIND_PRIVATE) revert NotALogRegistration(kind);
        uint256 flags = uint8(w0 >> 232);
        if (flags & ~uint256(0x0F) != 0) revert MalformedLogEntry("unknown flag bits");
        if (cidLen > 255 || entry.length != LOG_HEADER + cidLen) {
            revert MalformedLogEntry("CID length does not match the entry length");
        }
        if (flags & 2 != 0) revert MalformedLogEntry("a private registration names no token id");
        if (tokenWord != 0) revert MalformedLogEntry("token id absent but not zero");
        if (flags & 4 == 0 && txWord != 0) revert MalformedLogEntry("tx hash absent but not zero");
        if (flags & 8 == 0 && blockWord != 0) revert MalformedLogEntry("block absent but not zero");
        uint64 chainId = uint64(w0 >> 168);
        if (chainId != 0 && chainId != block.chainid) revert LogEntryWrongChain(chainId, block.chainid);
        if (flags & 1 != 0) {
            if (address(uint160(contractWord)) != address(this)) {
                revert LogEntryWrongContract(address(uint160(contractWord)), address(this));
            }
        } else if (contractWord != 0) {
            revert MalformedLogEntry("contract absent but not zero");
        }
        cid = string(entry[LOG_HEADER:]);
    }

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
