use super::*;

#[test]
fn algorithm_ids_round_trip() {
    for alg in CoseAlgorithm::ALL {
        assert_eq!(CoseAlgorithm::from_i64(alg.to_i64()), Some(alg));
    }
    assert_eq!(CoseAlgorithm::from_i64(-65536), None);
    assert!(!CoseAlgorithm::DEFAULT.contains(&CoseAlgorithm::Rs1));
}
