package connection

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyEnv names the variable that may hold the encryption key (32 bytes, as
// 64 hex digits or base64).
const KeyEnv = "S3FLOW_ENCRYPTION_KEY"

// ErrWrongKey means the store was written with another encryption key.
var ErrWrongKey = errors.New("the encryption key does not match the one this store was written with (check " + KeyEnv + " or encryption.key)")

// ErrMissingKey means the store holds secrets but its key is nowhere to be
// found: S3FLOW_ENCRYPTION_KEY is unset and encryption.key is gone.
var ErrMissingKey = errors.New("the encryption key this store was written with is missing")

// LoadKey returns the encryption key from S3FLOW_ENCRYPTION_KEY, or from
// home/encryption.key, generating that file (mode 0600) on first use.
func LoadKey(home string) ([]byte, error) { return loadKey(home, true) }

// loadKey is LoadKey that generates a key file only when create is true.
func loadKey(home string, create bool) ([]byte, error) {
	if s := strings.TrimSpace(os.Getenv(KeyEnv)); s != "" {
		key, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyEnv, err)
		}
		return key, nil
	}
	file := filepath.Join(home, "encryption.key")
	data, err := os.ReadFile(file)
	if err == nil {
		// A key others can read protects nothing: refuse it rather than
		// use it (and say how to fix it).
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s is readable by others (mode %04o): run chmod 600 %s", file, st.Mode().Perm(), file)
		}
		key, err := decodeKey(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read encryption key: %w", err)
	}
	if !create {
		return nil, fmt.Errorf("%w: %s is unset and %s does not exist; set the variable or restore the file", ErrMissingKey, KeyEnv, file)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// O_EXCL: two processes starting at once must not write two keys.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadKey(home, create)
	}
	if err != nil {
		return nil, fmt.Errorf("create encryption key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("write encryption key: %w", err)
	}
	return key, f.Sync()
}

func decodeKey(s string) ([]byte, error) {
	if key, err := hex.DecodeString(s); err == nil && len(key) == 32 {
		return key, nil
	}
	if key, err := base64.StdEncoding.DecodeString(s); err == nil && len(key) == 32 {
		return key, nil
	}
	return nil, errors.New("the encryption key must be 32 bytes written as 64 hex digits or base64")
}

// sealer encrypts and decrypts with AES-256-GCM; the nonce leads the output.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plain; additional binds the ciphertext to its row (the
// connection name and column) so ciphertexts cannot be swapped around.
func (s *sealer) seal(plain, additional string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return s.aead.Seal(nonce, nonce, []byte(plain), []byte(additional))
}

func (s *sealer) open(sealed []byte, additional string) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", ErrWrongKey
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(additional))
	if err != nil {
		return "", ErrWrongKey
	}
	return string(plain), nil
}
